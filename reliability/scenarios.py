"""The scenarios, in the order of the issue: what each drives, which fault it injects, when.

Each returns its tickets (with the status their events imply), the faults it injected and when
the last one ended; `runner` then checks the invariants. Kills fall while work is in flight:
tickets are opened and approved concurrently, and the kill comes a random moment after."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from reliability import faults
from reliability.courier_webhooks import return_journeys
from reliability.flows import Flow, approve, new_orders, open_flows, open_tickets, when_status
from reliability.harness import Stack
from reliability.traffic import Answers
from tests.simulation.records import read_rows
from tests.support.sandbox_state import PROVIDER_FILE

REVIEW_DEADLINE = 25.0  # seconds, in the Temporal scenario
LOST_REPLIES = 8.0  # seconds the provider's answers are dropped


@dataclass
class Run:
    flows: list[Flow]
    faults: list[str] = field(default_factory=list)
    fault_ended: float = 0.0  # monotonic time the last fault was over
    recovery: float | None = None  # seconds from the fault's start until serving again
    violations: list[str] = field(default_factory=list)  # the scenario's own checks


Body = Callable[[Stack, random.Random, Answers, int], Awaitable[Run]]


@dataclass(frozen=True)
class Scenario:
    name: str
    tickets: int
    body: Body
    env: dict[str, str] = field(default_factory=dict)
    provider_proxy: bool = False  # the engine reaches the payment sandbox through a proxy


async def _reviewed(stack: Stack, answers: Answers, flows: list[Flow]) -> None:
    """Every shipped ticket approved by its merchant once it waits for review."""

    async def one(flow: Flow) -> None:
        await when_status(stack, answers, flow.ticket_no, "awaiting_merchant_review")
        await approve(stack, answers, flow)

    await asyncio.gather(*(one(flow) for flow in flows if flow.needs_review))


async def _traffic(
    stack: Stack, rng: random.Random, answers: Answers, count: int, share: float
) -> list[Flow]:
    flows = await open_flows(stack, answers, rng, count, share)
    await _reviewed(stack, answers, flows)
    return flows


async def worker_killed(stack: Stack, rng: random.Random, answers: Answers, count: int) -> Run:
    """SIGKILL the worker twice while refunds and approvals are in flight."""
    work = asyncio.create_task(_traffic(stack, rng, answers, count, 0.5))
    run = Run(flows=[])
    for _ in range(2):
        await asyncio.sleep(rng.uniform(1.0, 3.0))
        answers.fault_started()
        started = time.monotonic()
        await faults.kill(stack, "worker")
        run.faults.append("SIGKILL worker")
        answers.fault_ended()
        run.recovery = max(run.recovery or 0.0, time.monotonic() - started)
    run.flows = await work
    run.fault_ended = time.monotonic()
    return run


async def temporal_killed(stack: Stack, rng: random.Random, answers: Answers, count: int) -> Run:
    """SIGKILL the Temporal server just before the review deadlines of half the tickets fall (no
    merchant acts on them: their timers fire during or after the outage) and while the other
    half's approvals (Updates) are in flight."""
    opened = time.monotonic()
    flows = await open_flows(stack, answers, rng, count, 1.0)
    approving = [flow for flow in flows if rng.random() < 0.5]
    for flow in flows:
        if flow not in approving:
            flow.deadline_due = True
            flow.expect = ("completed", "under_arbitration")
    # Just before the first deadlines (REVIEW_DEADLINE after opening) fall.
    await asyncio.sleep(
        max(0.0, opened + REVIEW_DEADLINE - rng.uniform(3.0, 5.0) - time.monotonic())
    )
    approvals = asyncio.gather(*(approve(stack, answers, flow) for flow in approving))
    await asyncio.sleep(rng.uniform(0.05, 0.3))
    answers.fault_started()
    started = time.monotonic()
    await faults.kill(stack, "temporal")
    recovery = await faults.ready(stack) + (time.monotonic() - started)
    answers.fault_ended()
    await approvals
    return Run(flows, ["SIGKILL temporal"], time.monotonic(), recovery)


async def postgres_hung(stack: Stack, rng: random.Random, answers: Answers, count: int) -> Run:
    """PostgreSQL stopped (SIGSTOP of every process) for 20 s while activities write."""
    work = asyncio.create_task(_traffic(stack, rng, answers, count, 0.5))
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
    work = asyncio.create_task(_traffic(stack, rng, answers, count, 0.3))
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
    work = asyncio.create_task(_traffic(stack, rng, answers, count, 0.3))
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
        lambda: _reviewed(stack, answers, flows),
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


SHORT_REVIEW = {
    "DEADLINE_MERCHANT_REVIEW": f"PT{REVIEW_DEADLINE:.0f}S",
    "REMINDERS_BEFORE_REVIEW_DEADLINE": "PT10S",
}

SCENARIOS = [
    Scenario("worker SIGKILL during refunds and approvals", 30, worker_killed),
    Scenario("Temporal SIGKILL during timers and Updates", 30, temporal_killed, SHORT_REVIEW),
    Scenario("PostgreSQL hung 20 s while activities write", 30, postgres_hung),
    Scenario("payment sandbox failing and killed during refunds", 30, provider_failing),
    Scenario(
        "payment provider accepts refunds, replies lost",
        30,
        provider_reply_lost,
        provider_proxy=True,
    ),
    Scenario("courier webhooks duplicated, out of order, late", 20, courier_disorder),
    Scenario("API SIGKILL mid-request", 30, api_killed),
]
