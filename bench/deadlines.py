"""Open tickets waiting on their review deadlines: what they cost while they wait, and how
punctually the deadlines act when they all fall together.

Refund-only tickets on delivered orders, each of a fresh buyer with no history (low risk), opened
through the API as bench.throughput opens them, wait for the merchant's review. Before each batch
the merchant's policy is replaced so that the batch's review deadlines fall at one common moment
(bench/deadline_plan.py). While all of them wait, the worker's, Temporal's and the API's memory
and the stores' sizes are read; after the deadline, the timeline says when each automatic approval
(the seller timeout) was recorded. Sizes by argument: the defaults keep this part to a few minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import String, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY

from bench.approvals import MERCHANT
from bench.deadline_histories import steps_after
from bench.deadline_opening import MERCHANT_ID, open_all, put_policy, spare_buyers
from bench.deadline_plan import Lateness, checkpoints, target_after
from bench.deadline_report import Decision, Results, section
from bench.deadline_stack import Gauges, cache_limit, cache_setting
from bench.throughput import Ours
from domain.events import TicketEvent
from domain.tickets import TicketStatus
from persistence.models import Ticket, TimelineEntry
from reliability.harness import Stack, running_stack
from tests.support.run_command import free_port

BUYERS_AT_ONCE = 1000  # buyers stored per transaction before the openings
# The last batch is opened this long before the common deadline at the planned rate: time for
# its tickets' first steps (risk assessment, submission for review) and for reading the stack.
LEAD = timedelta(seconds=30)
POLL = 2.0  # seconds between looks at the tickets' states
# Histories of this many approved tickets are split into the steps between deadline and record.
SAMPLE = 30
STILL_WAITING = frozenset(
    {TicketStatus.submitted, TicketStatus.awaiting_merchant_review, TicketStatus.refunding}
)
TITLE = "Open tickets waiting on deadlines, and how punctually the deadlines act"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--deadline-tickets",
        type=int,
        default=400,
        help="tickets waiting on one common review deadline (400)",
    )
    parser.add_argument(
        "--deadline-concurrency",
        type=int,
        default=50,
        help="openings at once, also the size of a batch under one policy (50)",
    )
    parser.add_argument(
        "--deadline-rate",
        type=float,
        default=6.0,
        help="openings per second the common deadline is planned on; lower it when a run "
        "stops early because opening fell behind (6)",
    )


def _ours(column: Any, tickets: list[str]) -> Any:
    # One array parameter, however many tickets: IN would bind one parameter per ticket.
    return column == any_(bindparam("tickets", tickets, type_=ARRAY(String)))


async def _statuses(stack: Stack, tickets: list[str]) -> Counter[str]:
    async with stack.sessions() as session:
        rows = await session.execute(
            select(Ticket.status, func.count())
            .where(_ours(Ticket.ticket_no, tickets))
            .group_by(Ticket.status)
        )
        return Counter({status: count for status, count in rows.all()})


async def _until(
    stack: Stack, tickets: list[str], waiting: frozenset[str], deadline: float
) -> Counter[str]:
    """Polls the tickets' states until none is in `waiting` or the monotonic `deadline` passed."""
    while True:
        statuses = await _statuses(stack, tickets)
        if not any(statuses[s] for s in waiting) or time.monotonic() >= deadline:
            return statuses
        # One array of every ticket per look: for many tickets, fewer looks.
        await asyncio.sleep(max(POLL, len(tickets) / 10_000))


async def _decisions(stack: Stack, tickets: list[str]) -> list[Decision]:
    """Per ticket: its review deadline, the entry that took it out of review, when it closed."""
    review = TicketStatus.awaiting_merchant_review
    entry = TimelineEntry
    async with stack.sessions() as session:
        submitted = await session.execute(
            select(entry.ticket_no, entry.deadline_at).where(
                _ours(entry.ticket_no, tickets), entry.event == TicketEvent.submitted_for_review
            )
        )
        deadlines = {no: deadline for no, deadline in submitted.all()}
        decided = await session.execute(
            select(entry.ticket_no, entry.event, entry.at, entry.reason, entry.data).where(
                _ours(entry.ticket_no, tickets),
                entry.from_status == review,
                entry.to_status != review,
            )
        )
        outcomes = {no: (event, at, reason, data) for no, event, at, reason, data in decided.all()}
        closed = await session.execute(
            select(Ticket.ticket_no, Ticket.status, Ticket.closed_at).where(
                _ours(Ticket.ticket_no, tickets)
            )
        )
        states = {no: (status, closed_at) for no, status, closed_at in closed.all()}
    decisions = []
    for no in tickets:
        event, at, reason, data = outcomes.get(no, (None, None, None, {}))
        status, closed_at = states.get(no, (None, None))
        decisions.append(
            Decision(
                ticket_no=no,
                deadline=deadlines.get(no),
                event=event,
                at=at,
                reason=reason,
                flagged_late="late_by_seconds" in (data or {}),
                status=status,
                closed_at=closed_at,
            )
        )
    return decisions


async def _timer_sample(stack: Stack, approved: list[Decision]) -> list[dict[str, float]]:
    """The steps of SAMPLE approvals spread evenly over the lateness order."""
    ordered = sorted(approved, key=lambda d: d.lateness)
    if not ordered:
        return []
    picks = sorted({round(k * (len(ordered) - 1) / max(1, SAMPLE - 1)) for k in range(SAMPLE)})
    samples = []
    for index in picks:
        deadline, at = ordered[index].deadline_and_at()
        history = await stack.temporal.get_workflow_handle(ordered[index].ticket_no).fetch_history()
        steps = steps_after(history.events, deadline, at)
        if steps is not None:
            samples.append(steps)
    return samples


async def measure(args: argparse.Namespace, stack: Stack) -> list[str]:
    count: int = args.deadline_tickets
    concurrency: int = args.deadline_concurrency
    gauges = Gauges(stack)
    ours = Ours(stack)
    async with stack.client(MERCHANT, timeout=60) as merchant:
        kept = (await merchant.get(f"/v1/merchants/{MERCHANT_ID}/policy")).json()["overrides"]
        try:
            return await _measure(args, stack, gauges, ours, merchant, count, concurrency)
        finally:
            await put_policy(merchant, lambda: kept)
            await ours.aclose()


async def _measure(
    args: argparse.Namespace,
    stack: Stack,
    gauges: Gauges,
    ours: Ours,
    merchant: httpx.AsyncClient,
    count: int,
    concurrency: int,
) -> list[str]:
    started = time.monotonic()
    buyers = count + spare_buyers(count, concurrency)
    for start in range(0, buyers, BUYERS_AT_ONCE):
        await ours.add_buyers(min(BUYERS_AT_ONCE, buyers - start))
    samples = [await gauges.footprint("before", 0)]
    database_before, temporal_before = await gauges.database_bytes(), gauges.temporal_bytes()
    target = target_after(datetime.now(UTC), count, args.deadline_rate, LEAD)
    print(f"deadlines: {count} tickets, common deadline {target:%H:%M:%S} UTC", flush=True)
    # With more tickets than the worker's cache holds, a sample also where it fills up.
    limit = cache_limit()
    marks = checkpoints(count, 4, also=[] if limit is None else [limit])
    opening = await open_all(stack, ours, merchant, gauges, count, concurrency, target, marks)
    tickets = opening.tickets
    print(
        f"deadlines: opened {len(tickets)} in {opening.seconds:.0f} s"
        + (f"; {opening.stopped}" if opening.stopped else "")
        + "".join(f"; refused {k}: {why}" for why, k in opening.refused.items())
        + (f"; {opening.adopted} stored all the same" if opening.adopted else "")
        + (f"; {opening.given_up} given up" if opening.given_up else ""),
        flush=True,
    )
    # Waiting for review once each has been submitted: the footprint of all of them waiting.
    before_target = time.monotonic() + (target - datetime.now(UTC)).total_seconds() - 2
    await _until(stack, tickets, frozenset({TicketStatus.submitted}), before_target)
    samples.append(await gauges.footprint("all waiting", len(tickets)))
    database_after, temporal_after = await gauges.database_bytes(), gauges.temporal_bytes()
    pause = (target - datetime.now(UTC)).total_seconds()
    await asyncio.sleep(max(0.0, pause))
    patience = time.monotonic() + 120 + 0.5 * len(tickets)
    statuses = await _until(stack, tickets, STILL_WAITING, patience)
    still = sum(statuses[s] for s in STILL_WAITING)
    samples.append(await gauges.footprint("after the deadlines", still))
    decisions = await _decisions(stack, tickets)
    approved = [
        d for d in decisions if d.event == TicketEvent.approved_automatically and d.lateness_known
    ]
    print(f"deadlines: {len(approved)} approved automatically", flush=True)
    timers = await _timer_sample(stack, approved)
    results = Results(
        requested=count,
        concurrency=concurrency,
        rate_planned=args.deadline_rate,
        target=target,
        seconds=time.monotonic() - started,
        opening_seconds=opening.seconds,
        refused=opening.refused,
        given_up=opening.given_up,
        adopted=opening.adopted,
        stopped=opening.stopped,
        policies=opening.policies,
        samples=[samples[0], *opening.samples, *samples[1:]],
        database=(database_before, database_after),
        temporal_store=(temporal_before, temporal_after),
        decisions=decisions,
        lateness=Lateness.of(d.deadline_and_at() for d in approved) if approved else None,
        timers=timers,
        cache_setting=cache_setting(),
    )
    print(f"deadlines: {results.seconds:.0f} s in all", flush=True)
    return section(TITLE, results, cache_limit())


def _interrupted(signum: int, _frame: object) -> None:
    # A terminated run still stops the stack it started (the run command's children with it).
    raise KeyboardInterrupt(f"signal {signum}")


async def _standalone(args: argparse.Namespace) -> list[str]:
    from bench.__main__ import STACK_ENV

    # The SDK's metrics show how many workflows the worker's cache holds.
    env = STACK_ENV | {"WORKER_METRICS_ADDRESS": f"127.0.0.1:{free_port()}"}
    with tempfile.TemporaryDirectory(prefix="bench-deadlines-") as root:
        async with running_stack(Path(root), env) as stack:
            try:
                return await measure(args, stack)
            except Exception:
                print("the run command's last lines:\n" + "".join(stack.output[-40:]))
                raise


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupted)
    parser = argparse.ArgumentParser(prog="python -m bench.deadlines", description=__doc__)
    add_arguments(parser)
    print("\n".join(asyncio.run(_standalone(parser.parse_args()))))


if __name__ == "__main__":
    main()
