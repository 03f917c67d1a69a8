"""The summary report of SPEC §7, aggregated by PostgreSQL over one consistent snapshot."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Float, cast, extract, func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from domain.reasons import ReasonCode
from domain.reports import (
    APPROVAL_EVENTS,
    AUTO_APPROVAL_EVENTS,
    REJECTION_EVENTS,
    TIMEOUT_EVENTS,
)
from domain.tickets import TERMINAL_STATUSES, Channel, RefundStatus, TicketStatus, TicketType
from persistence.models import Refund, Ticket, TicketLine, TimelineEntry


@dataclass(frozen=True)
class ReportScope:
    """Tickets of one merchant (or all), opened in [created_from, created_to)."""

    merchant_id: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


@dataclass(frozen=True)
class Summary:
    tickets: int
    by_type: dict[str, int]
    by_status: dict[str, int]
    by_reason: dict[str, int]
    by_channel: dict[str, int]
    approved: int
    decided: int
    resolved: int
    median_resolution_seconds: float | None
    refunded: dict[str, int]
    auto_approvals: int
    timeouts: dict[str, int]
    escalations: int


async def summary(session: AsyncSession, scope: ReportScope) -> Summary:
    """Every figure of the report from one REPEATABLE READ, read-only transaction."""
    await session.connection(
        execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    )
    try:
        groups = await _groups(session, scope)
        by_reason = await tickets_by_line_reason(session, _in_scope(scope))
        tickets, escalations, resolved, median = await _totals(session, scope)
        approved, decided = await decisions(session, _in_scope(scope))
        refunded = await _refunded(session, scope)
        events = await _event_counts(session, scope)
    finally:
        await session.rollback()
    return Summary(
        tickets=tickets,
        by_type=groups[0],
        by_status=groups[1],
        by_reason=by_reason,
        by_channel=groups[2],
        approved=approved,
        decided=decided,
        resolved=resolved,
        median_resolution_seconds=median,
        refunded=refunded,
        auto_approvals=sum(events.get(event, 0) for event in AUTO_APPROVAL_EVENTS),
        timeouts={event: events.get(event, 0) for event in TIMEOUT_EVENTS},
        escalations=escalations,
    )


def _in_scope(scope: ReportScope) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if scope.merchant_id is not None:
        conditions.append(Ticket.merchant_id == scope.merchant_id)
    if scope.created_from is not None:
        conditions.append(Ticket.created_at >= scope.created_from)
    if scope.created_to is not None:
        conditions.append(Ticket.created_at < scope.created_to)
    return conditions


async def _groups(
    session: AsyncSession, scope: ReportScope
) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Counts by type, by status and by channel in one pass (GROUPING SETS)."""
    rows = await session.execute(
        select(Ticket.type, Ticket.status, Ticket.channel, func.count())
        .where(*_in_scope(scope))
        .group_by(func.grouping_sets(Ticket.type, Ticket.status, Ticket.channel))
    )
    by_type: dict[str, int] = {}
    by_status: dict[str, int] = {}
    by_channel: dict[str, int] = {}
    # The three columns are NOT NULL, so the one that is set names the grouping set.
    for type_, status, channel, count in rows:
        if type_ is not None:
            by_type[type_] = count
        elif status is not None:
            by_status[status] = count
        else:
            by_channel[channel] = count
    return (
        _every(TicketType, by_type),
        _every(TicketStatus, by_status),
        _every(Channel, by_channel),
    )


async def tickets_by_line_reason(
    session: AsyncSession, conditions: list[ColumnElement[bool]]
) -> dict[str, int]:
    """Tickets per reason, each line counted under its own reason (the ticket's by default): a
    ticket of a broken mug and a shirt too small counts once under each. Every code listed."""
    reason = func.coalesce(TicketLine.reason_code, Ticket.reason_code)
    rows = await session.execute(
        select(reason, func.count(func.distinct(Ticket.ticket_no)))
        .outerjoin(TicketLine, TicketLine.ticket_no == Ticket.ticket_no)
        .where(*conditions)
        .group_by(reason)
    )
    return _every(ReasonCode, {str(code): int(count) for code, count in rows})


async def _totals(session: AsyncSession, scope: ReportScope) -> tuple[int, int, int, float | None]:
    """Tickets, escalated tickets, resolved tickets and their median time to resolution."""
    resolved = Ticket.status.in_(TERMINAL_STATUSES) & Ticket.closed_at.is_not(None)
    seconds = cast(extract("epoch", Ticket.closed_at - Ticket.created_at), Float)
    row = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(Ticket.escalated),
                func.count().filter(resolved),
                func.percentile_cont(0.5).within_group(seconds).filter(resolved),
            ).where(*_in_scope(scope))
        )
    ).one()
    tickets, escalations, resolved_count, median = row
    return tickets, escalations, resolved_count, None if median is None else float(median)


async def decisions(session: AsyncSession, tickets: list[ColumnElement[bool]]) -> tuple[int, int]:
    """(approved, decided) of the tickets `tickets` selects: a ticket is decided once its
    timeline holds a decision event, and approved when its latest one approves."""
    latest = (
        select(TimelineEntry.ticket_no, TimelineEntry.event)
        .join(Ticket, Ticket.ticket_no == TimelineEntry.ticket_no)
        .where(*tickets, TimelineEntry.event.in_((*APPROVAL_EVENTS, *REJECTION_EVENTS)))
        .ext(distinct_on(TimelineEntry.ticket_no))
        .order_by(TimelineEntry.ticket_no, TimelineEntry.seq.desc())
        .subquery()
    )
    approved, decided = (
        await session.execute(
            select(func.count().filter(latest.c.event.in_(APPROVAL_EVENTS)), func.count())
        )
    ).one()
    return approved, decided


async def _refunded(session: AsyncSession, scope: ReportScope) -> dict[str, int]:
    """Succeeded refunds of the tickets in scope, summed per currency in minor units."""
    rows = await session.execute(
        select(Refund.currency, func.sum(Refund.amount))
        .join(Ticket, Ticket.ticket_no == Refund.ticket_no)
        .where(*_in_scope(scope), Refund.status == RefundStatus.succeeded)
        .group_by(Refund.currency)
        .order_by(Refund.currency)
    )
    # SUM(BIGINT) is NUMERIC: exact, and an int once here.
    return {currency: int(total) for currency, total in rows}


async def _event_counts(session: AsyncSession, scope: ReportScope) -> dict[str, int]:
    rows = await session.execute(
        select(TimelineEntry.event, func.count())
        .join(Ticket, Ticket.ticket_no == TimelineEntry.ticket_no)
        .where(*_in_scope(scope), TimelineEntry.event.in_({*TIMEOUT_EVENTS, *AUTO_APPROVAL_EVENTS}))
        .group_by(TimelineEntry.event)
    )
    return {event: count for event, count in rows}


def _every(known: Iterable[str], counts: dict[str, int]) -> dict[str, int]:
    """Every known value in its declared order, zero when absent; unknown values after."""
    complete = {str(value): counts.pop(value, 0) for value in known}
    return complete | dict(sorted(counts.items()))
