"""The invariants after a fault, on a world at rest: every ticket in the status its events and
deadlines imply, its row equal to its workflow's state, money moved once and within what was paid,
timeline, ledger and provider in agreement; deadlines' lateness is measured, not asserted."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

import contracts as c
from activities.consistency import ConsistencyActivities, compare
from persistence.models import TimelineEntry
from reliability.flows import Flow
from reliability.harness import Stack
from tests.simulation.money import booking_violations, cap_violations, provider_violations
from tests.simulation.records import Row, read_ledger, read_rows
from tests.support.sandbox_state import provider_busy, provider_movements

SETTLE_BOUND = 180.0  # seconds for every ticket to reach its status once the fault is over


@dataclass
class Outcome:
    violations: list[str] = field(default_factory=list)
    settled_after: float | None = None  # seconds from the end of the fault to all settled
    lateness: list[float] = field(default_factory=list)  # seconds, one per deadline that fired
    differences: int = 0
    provider_refunds: int = 0  # the provider's movements of these orders that were checked


async def settle(stack: Stack, flows: list[Flow], since: float) -> tuple[dict[str, Row], Outcome]:
    """Waits (bounded) for every ticket's expected status and a quiet provider."""
    outcome = Outcome()
    nos = [flow.ticket_no for flow in flows]
    deadline = time.monotonic() + SETTLE_BOUND
    while True:
        rows = await read_rows(stack.sessions, nos)
        off = [
            f for f in flows if f.ticket_no not in rows or rows[f.ticket_no].status not in f.expect
        ]
        busy = provider_busy(stack.sandbox_view())
        if not off and not busy:
            outcome.settled_after = time.monotonic() - since
            return rows, outcome
        if time.monotonic() > deadline:
            for flow in off:
                row = rows.get(flow.ticket_no)
                status = row.status if row else "no row"
                outcome.violations.append(
                    f"{flow.ticket_no}: {status}, expected {' or '.join(flow.expect)}"
                )
            outcome.violations += [f"provider still busy: {what}" for what in busy]
            return rows, outcome
        await asyncio.sleep(0.5)


async def invariants(stack: Stack, flows: list[Flow], since: float) -> Outcome:
    rows, outcome = await settle(stack, flows, since)
    nos = [flow.ticket_no for flow in flows]
    report = await ConsistencyActivities(stack.sessions, stack.temporal).check(
        c.ConsistencyRequest(ticket_nos=nos)
    )
    outcome.differences = len(report.differences)
    outcome.violations += [
        f"{d.ticket_no}: consistency {d.kind} row {d.row.brief()}" for d in report.differences
    ]
    outcome.violations += await ended_violations(stack, rows)
    orders = [flow.order for flow in flows]
    ledger = await read_ledger(stack.sessions, [order.order_id for order in orders])
    references = {o.reference for o in orders} | {o.order_id for o in orders}
    movements = [m for m in provider_movements(stack.sandbox_view()) if m.reference in references]
    outcome.provider_refunds = len(movements)
    outcome.violations += provider_violations(ledger, movements)
    outcome.violations += cap_violations(orders, ledger, movements)
    outcome.violations += booking_violations(ledger, rows)
    fired = await deadline_lateness(stack, nos)
    outcome.lateness = [late for lates in fired.values() for late in lates]
    outcome.violations += [
        f"{flow.ticket_no}: its review deadline never fired"
        for flow in flows
        if flow.deadline_due and not fired.get(flow.ticket_no)
    ]
    return outcome


async def ended_violations(stack: Stack, rows: dict[str, Row]) -> list[str]:
    """Ended tickets (the consistency check reads open ones only) against their closed workflow."""
    found = []
    for no, row in rows.items():
        if row.open:
            continue
        handle = stack.temporal.get_workflow_handle(no)
        try:
            state = c.TicketSnapshot.model_validate(await handle.query(c.STATE_QUERY))
        except (WorkflowQueryFailedError, RPCError) as error:
            found.append(f"{no} {row.status}: its workflow's state cannot be read: {error}")
            continue
        if kinds := compare(row.snapshot(), state):
            found.append(f"{no}: row {row.snapshot().brief()} but workflow {state.brief()} {kinds}")
    return found


async def deadline_lateness(stack: Stack, nos: list[str]) -> dict[str, list[float]]:
    """For each step a deadline took (a system entry at or after the deadline the entry before
    it set), how late it fired, in seconds."""
    async with stack.sessions() as session:
        entries = (
            await session.scalars(
                select(TimelineEntry)
                .where(TimelineEntry.ticket_no.in_(nos))
                .order_by(TimelineEntry.ticket_no, TimelineEntry.seq)
            )
        ).all()
    late: dict[str, list[float]] = {}
    for before, entry in itertools.pairwise(entries):
        if before.ticket_no != entry.ticket_no or before.deadline_at is None:
            continue
        if entry.actor_role == "system" and entry.at >= before.deadline_at - timedelta(seconds=1):
            seconds = max(0.0, (entry.at - before.deadline_at).total_seconds())
            late.setdefault(entry.ticket_no, []).append(seconds)
    return late
