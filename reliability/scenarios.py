"""The scenarios, part by part (worker, Temporal, PostgreSQL, payment provider, courier, API):
what each drives, which fault it injects, when. The worker's other scenarios are in
`worker_faults`, the provider's bad answers in `provider_faults`.

Each returns its tickets (with the status their events imply), the faults it injected and when
the last one ended; `runner` then checks the invariants. Kills fall while work is in flight:
tickets are opened and approved concurrently, and the kill comes a random moment after."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
import time

from reliability import faults, provider_faults, scale_out, worker_faults
from reliability.courier_webhooks import return_journeys
from reliability.deadlines import (
    REVIEW_DEADLINE,
    SHORT_REVIEW,
    fell_between,
    review_deadlines,
    sleep_until,
)
from reliability.flows import (
    approve,
    new_orders,
    open_flows,
    open_tickets,
    reviewed,
    traffic,
    when_status,
)
from reliability.harness import Stack
from reliability.runs import Run, Scenario
from reliability.traffic import Answers, InFlight
from tests.simulation.records import read_rows
from tests.support.sandbox_state import PROVIDER_FILE

LOST_REPLIES = 8.0  # seconds the provider's answers are dropped


async def worker_killed(stack: Stack, rng: random.Random, answers: Answers, count: int) -> Run:
    """SIGKILL the worker while tickets are opened and the unshipped ones refunded (approved by
    rule), then again while the shipped ones' approvals (Updates), sent together once they all
    wait for review, are in flight; each approval releases a refund."""
    opening = asyncio.ensure_future(open_flows(stack, answers, rng, count, 0.5))
    run = Run(flows=[])
    await asyncio.sleep(rng.uniform(0.3, 1.5))
    answers.fault_started()
    run.recovery = await faults.kill_worker(stack)
    run.faults.append("SIGKILL worker while tickets were opened and refunded")
    answers.fault_ended()
    run.flows = await opening
    shipped = [flow for flow in run.flows if flow.needs_review]
    await asyncio.gather(
        *(when_status(stack, answers, f.ticket_no, "awaiting_merchant_review") for f in shipped)
    )
    in_flight = InFlight()
    reviews = asyncio.gather(*(in_flight(approve(stack, answers, flow)) for flow in shipped))
    await asyncio.sleep(rng.uniform(0.05, 0.3))
    answers.fault_started()
    approving = in_flight.now
    run.recovery = max(run.recovery, await faults.kill_worker(stack))
    run.faults.append(f"SIGKILL worker with {approving} approvals (Updates) in flight")
    answers.fault_ended()
    await reviews
    run.fault_ended = time.monotonic()
    return run


async def temporal_killed(stack: Stack, rng: random.Random, answers: Answers, count: int) -> Run:
    """SIGKILL the Temporal server twice: first while half the tickets' approvals (Updates) are in
    flight and the other half wait on their review timers, then just as those timers fall due, so
    that some fall while the server is down. No merchant acts on the second half: their
    deadlines must fire after the restart."""
    opened = time.monotonic()
    flows = await open_flows(stack, answers, rng, count, 1.0)
    approving = [flow for flow in flows if rng.random() < 0.5]
    waiting = [flow for flow in flows if flow not in approving]
    for flow in waiting:
        flow.deadline_due = True
        flow.expect = ("completed", "under_arbitration")
    deadlines = await review_deadlines(stack, answers, waiting)
    # Just before the first deadlines (REVIEW_DEADLINE after opening) fall.
    await asyncio.sleep(
        max(0.0, opened + REVIEW_DEADLINE - rng.uniform(3.0, 5.0) - time.monotonic())
    )
    in_flight = InFlight()
    approvals = asyncio.gather(*(in_flight(approve(stack, answers, flow)) for flow in approving))
    await asyncio.sleep(rng.uniform(0.05, 0.3))
    answers.fault_started()
    run = Run(flows)
    updates = in_flight.now
    started = time.monotonic()
    await faults.kill(stack, "temporal")
    run.recovery = await faults.ready(stack) + (time.monotonic() - started)
    run.faults.append(
        f"SIGKILL temporal with {updates} approvals (Updates) in flight"
        f" and {len(waiting)} review timers pending"
    )
    # Again, a moment before the first review deadline falls.
    await sleep_until(min(deadlines) - rng.uniform(0.2, 0.8))
    down_from, started = time.time(), time.monotonic()
    await faults.kill(stack, "temporal")
    run.recovery = max(run.recovery, await faults.ready(stack) + (time.monotonic() - started))
    fell = fell_between(deadlines, down_from, time.time())
    run.faults.append(
        f"SIGKILL temporal as the deadlines fell ({fell} of {len(deadlines)} fell before it"
        " answered again)"
    )
    answers.fault_ended()
    await approvals
    run.fault_ended = time.monotonic()
    return run


async def postgres_hung(stack: Stack, rng: random.Random, answers: Answers, count: int) -> Run:
    """PostgreSQL stopped (SIGSTOP of every process) for 20 s while activities write."""
    work = asyncio.create_task(traffic(stack, rng, answers, count, 0.5))
    await asyncio.sleep(rng.uniform(1.0, 2.5))
    answers.fault_started()
    started = time.monotonic()
    await faults.hang_postgres(stack, 20.0)
    ended = time.monotonic()
    recovery = (ended - started) + await faults.ready(stack)
    answers.fault_ended()
    flows = await work
    return Run(flows, ["PostgreSQL hung 20 s (SIGSTOP/SIGCONT)"], ended, recovery)


async def provider_failing(stack: Stack, rng: random.Random, answers: Answers, count: int) -> Run:
    """The payment sandbox answers 503 to the first refunds, then is SIGKILLed mid-refunds."""
    failures = count // 2
    async with stack.sandbox() as sandbox:
        rule = await sandbox.post(
            "/v1/control/rules", json={"outcome": "http_503", "times": failures}
        )
        assert rule.status_code == 201, rule.text
    work = asyncio.create_task(traffic(stack, rng, answers, count, 0.3))
    await asyncio.sleep(rng.uniform(1.0, 2.5))
    answers.fault_started()
    started = time.monotonic()
    await faults.kill(stack, "payment-sandbox")
    recovery = time.monotonic() - started
    answers.fault_ended()
    flows = await work
    injected = [f"provider 503 x{failures} (rule)", "SIGKILL payment-sandbox"]
    return Run(flows, injected, time.monotonic(), recovery)


async def provider_reply_lost(
    stack: Stack, rng: random.Random, answers: Answers, count: int
) -> Run:
    """The provider accepts refunds and the replies are lost (then the calls time out) for 8 s:
    the engine cannot know they happened and must not pay twice."""
    proxy = stack.provider_proxy
    assert proxy is not None
    work = asyncio.create_task(traffic(stack, rng, answers, count, 0.3))
    await asyncio.sleep(rng.uniform(0.5, 1.5))
    answers.fault_started()
    started, wall = time.monotonic(), time.time()
    proxy.swallow_answers()
    await asyncio.sleep(LOST_REPLIES)
    await proxy.restore()
    ended = time.monotonic()
    answers.fault_ended()
    flows = await work
    lost = _refunds_made_between(stack, wall, wall + LOST_REPLIES)
    injected = [f"provider replies lost for {LOST_REPLIES:.0f} s ({lost} refunds made unanswered)"]
    return Run(flows, injected, ended, ended - started)


def _refunds_made_between(stack: Stack, start: float, end: float) -> int:
    """Refunds the provider created while its replies were dropped (its clock is this one)."""
    path = stack.sandbox_view() / PROVIDER_FILE
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        query = "SELECT COUNT(*) FROM refunds WHERE created_at BETWEEN ? AND ?"
        made: int = conn.execute(query, (start, end)).fetchone()[0]
    return made


async def courier_disorder(stack: Stack, rng: random.Random, answers: Answers, count: int) -> Run:
    """Return parcels whose webhooks come twice, out of order and late."""
    answers.fault_started()
    flows, injected = await return_journeys(stack, rng, answers, count)
    answers.fault_ended()
    run = Run(flows, injected, time.monotonic())
    rows = await read_rows(stack.sessions, [flow.ticket_no for flow in flows])
    for no, row in rows.items():  # each scan moved the ticket once, whatever came twice or late
        arrived = [e.event for e in row.entries if e.event == "return_delivered"]
        if len(arrived) != 1:
            run.violations.append(f"{no}: return_delivered {len(arrived)} times in the timeline")
    return run


async def api_killed(stack: Stack, rng: random.Random, answers: Answers, count: int) -> Run:
    """SIGKILL the API while a burst of ticket creations is in flight, then while a burst of
    approvals is; callers retry with the same Idempotency-Key."""
    flows = await new_orders(stack, answers, rng, count, 0.5)
    run = Run(flows=flows)
    bursts = (
        lambda: open_tickets(stack, answers, flows),
        lambda: reviewed(stack, answers, flows),
    )
    for burst in bursts:
        work = asyncio.ensure_future(burst())
        await asyncio.sleep(rng.uniform(0.02, 0.2))
        answers.fault_started()
        started = time.monotonic()
        await faults.kill(stack, "api")
        run.recovery = max(
            run.recovery or 0.0, time.monotonic() - started + await faults.ready(stack)
        )
        run.faults.append("SIGKILL api")
        answers.fault_ended()
        await work
    run.fault_ended = time.monotonic()
    return run


SCENARIOS = [
    Scenario("worker SIGKILL during refunds and approvals", 30, worker_killed),
    Scenario("worker SIGKILL during warehouse inspections", 20, worker_faults.killed_inspecting),
    Scenario(
        "worker SIGKILL while tickets wait on timers",
        30,
        worker_faults.down_at_deadlines,
        SHORT_REVIEW,
    ),
    Scenario("Temporal SIGKILL during timers and Updates", 30, temporal_killed, SHORT_REVIEW),
    Scenario("PostgreSQL hung 20 s while activities write", 30, postgres_hung),
    Scenario("payment sandbox failing and killed during refunds", 30, provider_failing),
    Scenario("payment provider answering 500 during refunds", 30, provider_faults.answering_500),
    Scenario("payment provider slow during refunds", 30, provider_faults.slow),
    Scenario("payment provider timing out during refunds", 30, provider_faults.timing_out),
    Scenario(
        "payment provider accepts refunds, replies lost",
        30,
        provider_reply_lost,
        provider_proxy=True,
    ),
    Scenario("courier webhooks duplicated, out of order, late", 20, courier_disorder),
    Scenario("API SIGKILL mid-request", 30, api_killed),
    Scenario(
        "scaled out to two APIs and two workers, one of each SIGKILLed and not restarted",
        16,
        scale_out.scaled_out,
    ),
]
