"""The worker SIGKILLed while returns are inspected, and while tickets wait on timers that fall
during its absence."""

from __future__ import annotations

import asyncio
import random
import time

from reliability import faults
from reliability.courier_webhooks import inspect, return_orders, to_warehouse
from reliability.deadlines import fell_between, review_deadlines, sleep_until
from reliability.flows import Flow, approve, open_flows
from reliability.harness import Stack
from reliability.runs import Run
from reliability.traffic import Answers, InFlight

# Each restart of the worker killed again at once, this many times after the first kill: the
# supervisor's backoff (0.5 s, 1 s, 2 s) then keeps the worker away for seconds.
CRASH_LOOP = 2


async def killed_inspecting(stack: Stack, rng: random.Random, answers: Answers, count: int) -> Run:
    """Return parcels delivered to the warehouse (courier webhooks in order); then every check-in
    scan and inspection is submitted at once and the worker SIGKILLed twice while they are
    applied: the inspection is an Update, and the refund it releases an activity."""
    flows = await return_orders(stack, rng, answers, count)
    await asyncio.gather(*(to_warehouse(stack, answers, flow) for flow in flows))
    in_flight = InFlight()
    work = asyncio.ensure_future(
        asyncio.gather(*(in_flight(inspect(stack, answers, flow)) for flow in flows))
    )
    run = Run(flows)
    for _ in range(2):
        await asyncio.sleep(rng.uniform(0.1, 1.5))
        answers.fault_started()
        inspecting = in_flight.now
        back = await faults.kill_worker(stack)
        run.faults.append(f"SIGKILL worker ({inspecting} inspections in flight)")
        answers.fault_ended()
        run.recovery = max(run.recovery or 0.0, back)
    await work
    run.fault_ended = time.monotonic()
    return run


async def down_at_deadlines(stack: Stack, rng: random.Random, answers: Answers, count: int) -> Run:
    """Tickets on shipped orders waiting for review. The worker is SIGKILLed a moment before the
    first review deadline falls and each restart killed again at once (CRASH_LOOP times), so that
    deadlines fall while no worker runs: they must fire once one polls again, late by about the
    time it was away (lateness reported). Meanwhile the merchants of a third of the tickets
    approve: their Updates arrive after the deadline fell, or just before, with no worker to take
    them; whichever the ticket took first decides (200, or 409 when the deadline did)."""
    flows = await open_flows(stack, answers, rng, count, 1.0)
    deadlines = await review_deadlines(stack, answers, flows)
    approving = rng.sample(flows, count // 3)
    for flow in flows:
        flow.deadline_due = flow not in approving
        flow.expect = ("completed", "under_arbitration")
    await sleep_until(min(deadlines) - rng.uniform(0.3, 1.0))
    answers.fault_started()
    down_from = time.time()
    killing = asyncio.ensure_future(faults.kill_worker(stack, times=1 + CRASH_LOOP))
    await asyncio.sleep(rng.uniform(0.5, 1.5))

    async def approved(flow: Flow) -> None:
        # A 409 means its deadline acted first: that deadline must have fired.
        flow.deadline_due = await approve(stack, answers, flow) == 409

    sent = time.time()
    approvals = asyncio.gather(*(approved(flow) for flow in approving))
    back = await killing
    fell = fell_between(deadlines, down_from, time.time())
    answers.fault_ended()
    await approvals
    spread = max(deadlines) - min(deadlines)
    took = sum(not flow.deadline_due for flow in approving)
    deadline_of = dict(zip((flow.ticket_no for flow in flows), deadlines, strict=True))
    early = sum(sent < deadline_of[flow.ticket_no] for flow in approving)
    injected = [
        f"SIGKILL worker, then its next {CRASH_LOOP} restarts at once: no worker for {back:.1f} s,"
        f" while {fell} of {len(deadlines)} review deadlines fell (spread over {spread:.1f} s)",
        f"{len(approving)} approvals sent while no worker ran ({early} before their ticket's"
        f" deadline): {took} taken, {len(approving) - took} refused with 409 as the deadline had"
        " acted first",
    ]
    return Run(flows, injected, time.monotonic(), back)
