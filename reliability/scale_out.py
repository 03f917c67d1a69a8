"""Scale-out rehearsed with processes: API processes behind a TCP balancer and worker processes on
one Temporal and one PostgreSQL. A mix of tickets goes through the balancer; one API and one
worker are SIGKILLed mid-run and not restarted, so the survivors must carry every ticket.

`tests/integration/test_scale_out.py` runs it on processes it starts itself; `scaled_out` is the
fault suite's scenario, beside the run command's own API and worker."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
import uuid
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psutil
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from domain.events import TicketEvent
from domain.tickets import TicketStatus
from reliability.balancer import Balanced, Balancer
from reliability.courier_webhooks import inspect
from reliability.fleet import api_process, start_serving, worker_process
from reliability.flows import (
    BUYER,
    MERCHANT,
    PLATFORM,
    Flow,
    approve,
    new_order,
    open_ticket,
    status_of,
    when_status,
)
from reliability.harness import Stack
from reliability.runs import Run
from reliability.traffic import Answers, InFlight, call
from stack.processes import Child, how_it_ended
from stack.worker_health import identity
from tests.support.servers import free_port

T = TypeVar("T")
KILL_WINDOW = (1.0, 4.0)  # seconds after the traffic starts, where each kill falls
STEP_BOUND = 60.0  # seconds a ticket may take to reach the status its next action needs
# The kinds of ticket in the mix, in turn.
BEFORE_SHIPMENT, APPROVED, REJECTED, RETURNED = KINDS = (
    "refund before shipment",
    "refund approved",
    "refund rejected",
    "return and refund",
)


async def reached(stack: Stack, answers: Answers, flow: Flow, status: str) -> None:
    try:
        await when_status(stack, answers, flow.ticket_no, status, STEP_BOUND)
    except TimeoutError:
        raise AssertionError(f"not {status} within {STEP_BOUND:.0f} s") from None


async def decided_by_rule(stack: Stack, answers: Answers, flow: Flow) -> None:
    """A refund before shipment is approved by rule, unless the buyer's risk is high by the time
    it is decided (six of their tickets refunded within 90 days, SPEC §5; a kill can delay the
    decision past the buyer's other refunds): then it is escalated to support, and that is the
    status its events imply."""
    deadline = time.monotonic() + STEP_BOUND
    while True:
        ticket = await status_of(stack, answers, flow.ticket_no)
        if ticket["status"] != TicketStatus.submitted:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"not decided within {STEP_BOUND:.0f} s")
        await asyncio.sleep(0.3)
    escalated = ticket["timeline"][-1]["event"] == TicketEvent.escalated_instead_of_auto_approval
    if ticket["status"] == TicketStatus.under_arbitration and escalated:
        flow.expect = (TicketStatus.under_arbitration,)


async def reject(stack: Stack, answers: Answers, flow: Flow) -> None:
    """The merchant rejects; a 409 while the row still shows the review is counted and retried,
    as `flows.approve` does."""
    url = f"/v1/tickets/{flow.ticket_no}/reject"
    async with stack.client(MERCHANT, timeout=30) as merchant, asyncio.timeout(60):
        while True:
            answer = await call(answers, merchant, "POST", url, {"reason_code": "item_used"})
            assert answer.status_code in (200, 409), answer.text
            ticket = await status_of(stack, answers, flow.ticket_no)
            if answer.status_code == 200 or ticket["status"] != "awaiting_merchant_review":
                return
            answers.anomalies.append(
                f"{flow.ticket_no}: reject answered 409 {answer.json().get('code')}"
                " while awaiting_merchant_review"
            )
            await asyncio.sleep(1.0)


async def ship_back(stack: Stack, answers: Answers, flow: Flow) -> None:
    """The buyer ships the return; the courier sandbox scans it to the warehouse, and its
    signed webhooks reach the API through the balancer."""
    await reached(stack, answers, flow, "awaiting_buyer_return")
    shipment = {"carrier": "SF", "tracking_no": flow.tracking_no}
    url = f"/v1/tickets/{flow.ticket_no}/return-shipment"
    async with stack.client(BUYER) as buyer:
        shipped = await call(answers, buyer, "POST", url, shipment)
    assert shipped.status_code == 200, shipped.text
    async with stack.courier() as courier:
        for status in ("picked_up", "in_transit", "delivered"):
            scan = {"status": status, "carrier": "sf"}
            moved = await courier.post(f"/control/parcels/{flow.tracking_no}/events", json=scan)
            assert moved.status_code == 201, moved.text
    await reached(stack, answers, flow, "awaiting_inspection")


async def journey(
    stack: Stack, answers: Answers, flow: Flow, kind: str, order: dict[str, Any]
) -> None:
    """One ticket of `kind`, from its order's upsert to the last action it needs."""
    async with stack.client(PLATFORM) as platform:
        url = f"/v1/orders/{flow.order.order_id}"
        await step("order upsert", call(answers, platform, "PUT", url, order))
    ticket_type = "return_refund" if kind == RETURNED else "refund_only"
    async with stack.client(BUYER) as buyer:
        await step("opening", open_ticket(answers, buyer, flow, ticket_type))
    if kind == BEFORE_SHIPMENT:
        await decided_by_rule(stack, answers, flow)
        return
    await reached(stack, answers, flow, "awaiting_merchant_review")
    if kind == REJECTED:
        await step("reject", reject(stack, answers, flow))
        return
    await step("approve", approve(stack, answers, flow))
    if kind == RETURNED:
        await step("return shipment", ship_back(stack, answers, flow))
        await step("scan and inspection", inspect(stack, answers, flow))


async def step(name: str, work: Awaitable[T]) -> T:
    """`work`, whose wait for a final answer running out says which step it was."""
    try:
        return await work
    except TimeoutError:
        raise AssertionError(f"{name}: no final answer in time") from None


@dataclass
class Victims:
    api: Child
    api_port: int
    worker: Child
    survivors: list[Child]


@dataclass
class Work:
    """Who did the tickets' work, from their histories."""

    tasks: Counter[str] = field(default_factory=Counter)  # worker identity -> tasks it started
    timed_out: int = 0  # tasks whose worker died: taken again by another


async def work_of(temporal: Client, ticket_nos: list[str]) -> Work:
    work = Work()
    for no in ticket_nos:
        async for event in temporal.get_workflow_handle(no).fetch_history_events():
            kind = event.event_type
            if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                work.tasks[event.workflow_task_started_event_attributes.identity] += 1
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                work.tasks[event.activity_task_started_event_attributes.identity] += 1
            elif kind in _TIMED_OUT:
                work.timed_out += 1
    return work


_TIMED_OUT = (
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
)


async def working(temporal: Client, flows: list[Flow], worker: Child) -> None:
    """Until `worker` has taken a task of these tickets (bounded by STEP_BOUND): a worker that
    joined a queue others already poll may get none for a while, and killing it then would
    prove nothing."""
    deadline = time.monotonic() + STEP_BOUND
    while time.monotonic() < deadline:
        work = await work_of(temporal, [flow.ticket_no for flow in flows if flow.ticket_no])
        if work.tasks[identity(worker.pid)]:
            return
        await asyncio.sleep(0.3)


async def _killed(child: Child) -> int:
    pid = child.pid
    os.kill(pid, signal.SIGKILL)
    await child.wait()
    return pid


def planned(rng: random.Random, count: int) -> list[tuple[Flow, str, dict[str, Any]]]:
    """`count` tickets, the kinds of KINDS in equal shares in a seeded order: each one's flow, its
    kind and its order as the platform sends it."""
    kinds = [KINDS[i % len(KINDS)] for i in range(count)]
    rng.shuffle(kinds)
    plan = []
    for kind in kinds:
        order, body = new_order(rng, shipped=kind != BEFORE_SHIPMENT)
        flow = Flow(order=order, needs_review=kind != BEFORE_SHIPMENT)
        flow.expect = ("rejected",) if kind == REJECTED else ("completed",)
        flow.tracking_no = f"SF{uuid.UUID(int=rng.getrandbits(128)).hex[:10].upper()}"
        plan.append((flow, kind, body))
    return plan


async def rehearse(
    stack: Stack,
    rng: random.Random,
    answers: Answers,
    count: int,
    balancer: Balancer,
    victims: Victims,
) -> Run:
    """`count` tickets sent at once through the balancer; the victim API and the victim worker
    each SIGKILLed at a seeded moment of KILL_WINDOW while they are under way (the worker once
    it has taken a task, if that is later), neither restarted. The scenario's own checks:
    something was under way at each kill, the dead worker had taken tasks, no survivor died."""
    balanced = Balanced.behind(stack, balancer)
    plan = planned(rng, count)
    moments = sorted(
        ((rng.uniform(*KILL_WINDOW), child) for child in (victims.api, victims.worker)),
        key=lambda moment: moment[0],
    )
    run = Run([flow for flow, _, _ in plan])

    async def carried(flow: Flow, kind: str, order: dict[str, Any]) -> None:
        try:
            await journey(balanced, answers, flow, kind, order)
        except Exception as error:  # a ticket that cannot go on is listed; the others go on
            where = flow.ticket_no or f"order {flow.order.order_id}"
            run.violations.append(f"{where} ({kind}): {type(error).__name__}: {error}")

    under_way = InFlight()
    started = time.monotonic()
    traffic = asyncio.gather(*(under_way(carried(*ticket)) for ticket in plan))
    for at, child in moments:
        await asyncio.sleep(max(0.0, started + at - time.monotonic()))
        if child is victims.worker:
            await working(stack.temporal, run.flows, child)
        if answers.fault_from is None:
            answers.fault_started()
        tickets, calls = under_way.now, balancer.open[victims.api_port]
        pid = await _killed(child)
        what = f"open connections to it: {calls}, " if child is victims.api else ""
        run.faults.append(
            f"SIGKILL {child.name} (pid {pid}) at {time.monotonic() - started:.1f} s, {what}"
            f"{tickets} of {count} tickets under way; not restarted"
        )
        if not tickets:
            run.violations.append(f"nothing was under way when {child.name} was killed")
    await traffic
    run.fault_ended = time.monotonic()
    work = await work_of(stack.temporal, [flow.ticket_no for flow in run.flows if flow.ticket_no])
    taken = work.tasks[identity(victims.worker.pid)]
    kinds = Counter(kind for _, kind, _ in plan)
    risky = sum(flow.expect == (TicketStatus.under_arbitration,) for flow in run.flows)
    run.faults.append(
        f"{balancer.refused[victims.api_port]} connections turned to the dead {victims.api.name}"
        f" went to the other API; the dead {victims.worker.name} had taken {taken} tasks, and"
        f" {work.timed_out} timed out and were taken again; tickets: "
        + ", ".join(f"{kinds[kind]} {kind}" for kind in KINDS)
        + (f" ({risky} before shipment escalated: buyer risk high by then)" if risky else "")
    )
    if not taken:
        run.violations.append(f"{victims.worker.name} had taken no task when it was killed")
    for child in victims.survivors:
        if child.returncode is not None:
            run.violations.append(f"{child.name} {how_it_ended(child.returncode)} during the run")
    return run


async def scaled_out(stack: Stack, rng: random.Random, answers: Answers, count: int) -> Run:
    """Beside the run command's API and worker, a second of each, started with the command and
    the environment the run command gave its own; both APIs behind a balancer. The second ones
    are SIGKILLed mid-run and not restarted: the run command's own carry every ticket, and
    must live through it (their pids stay). The sandboxes' webhooks go to the run command's API."""
    before = stack.pids()
    logs = stack.data_dir / "logs"
    port = free_port()
    api = api_process("api-2", port, psutil.Process(before["api"]).environ(), logs)
    worker = worker_process("worker-2", psutil.Process(before["worker"]).environ(), logs)
    try:
        await start_serving({port: api}, [worker])
        async with Balancer([stack.ports["api"], port]) as balancer:
            victims = Victims(api, port, worker, survivors=[])
            run = await rehearse(stack, rng, answers, count, balancer, victims)
    finally:
        for child in (api, worker):
            await child.stop()
    after = stack.pids()
    run.violations += [
        f"{name} died during the run (pid {before[name]}, then {after[name]})"
        for name in ("api", "worker")
        if after[name] != before[name]
    ]
    return run
