"""The dashboard's figures (`GET /v1/dashboard`), aggregated by PostgreSQL over one snapshot.

Tickets are those opened in the period, as the summary report counts them, read through the
ticket list indexes on (merchant_id, created_at) or (created_at). Refunds count on the day they
succeeded: one shop's through its tickets, every shop's through ix_refunds_succeeded_at.
Deadlines are a short range of the index on deadline_at.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Date,
    DateTime,
    Float,
    Text,
    cast,
    extract,
    func,
    literal,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from domain.tickets import TERMINAL_STATUSES, RefundStatus, TicketStatus, TicketType
from persistence.models import Refund, Ticket
from persistence.reports import decisions, tickets_by_line_reason


@dataclass(frozen=True)
class DashboardScope:
    """One merchant's tickets (or every merchant's), in the period [start, end)."""

    merchant_id: str | None
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Resolution:
    """Seconds from opening to a terminal status; `type` None is every type together."""

    type: str | None
    resolved: int
    median_seconds: float | None
    p90_seconds: float | None


@dataclass(frozen=True)
class CurrencyRefunds:
    currency: str
    total: int
    by_day: dict[date, int]


@dataclass(frozen=True)
class DueTicket:
    ticket_no: str
    merchant_id: str
    type: str
    status: str
    next_actor: str | None
    deadline_at: datetime
    on_timeout: str | None


@dataclass(frozen=True)
class Figures:
    opened: int
    by_status: dict[str, int]
    by_reason: dict[str, int]
    approved: int
    decided: int
    resolution: Resolution
    resolution_by_type: list[Resolution]
    refunds: list[CurrencyRefunds]
    due_count: int
    due: list[DueTicket]


async def figures(
    session: AsyncSession,
    scope: DashboardScope,
    *,
    now: datetime,
    due_within: timedelta,
    due_shown: int,
) -> Figures:
    """Every figure from one REPEATABLE READ, read-only transaction; deadlines are those due in
    [now, now + due_within), whatever the period."""
    await session.connection(
        execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    )
    try:
        opened, by_status = await _counts(session, scope)
        by_reason = await tickets_by_line_reason(session, _opened_in(scope))
        approved, decided = await decisions(session, _opened_in(scope))
        overall, by_type = await _resolution(session, scope)
        refunds = await _refunds(session, scope)
        due_count, due = await _due(session, scope.merchant_id, now, now + due_within, due_shown)
    finally:
        await session.rollback()
    return Figures(
        opened=opened,
        by_status=by_status,
        by_reason=by_reason,
        approved=approved,
        decided=decided,
        resolution=overall,
        resolution_by_type=by_type,
        refunds=refunds,
        due_count=due_count,
        due=due,
    )


def _merchant(merchant_id: str | None) -> list[ColumnElement[bool]]:
    return [] if merchant_id is None else [Ticket.merchant_id == merchant_id]


def _opened_in(scope: DashboardScope) -> list[ColumnElement[bool]]:
    return [
        *_merchant(scope.merchant_id),
        Ticket.created_at >= scope.start,
        Ticket.created_at < scope.end,
    ]


async def _counts(session: AsyncSession, scope: DashboardScope) -> tuple[int, dict[str, int]]:
    """Tickets opened, and by status, in one pass (GROUPING SETS)."""
    rows = await session.execute(
        select(Ticket.status, func.count())
        .where(*_opened_in(scope))
        .group_by(func.grouping_sets(Ticket.status, tuple_()))
    )
    opened = 0
    by_status: dict[str, int] = {}
    # The status is NOT NULL: set, it names its group; unset, the row is the total.
    for status, count in rows:
        if status is not None:
            by_status[status] = count
        else:
            opened = count
    return opened, _every(TicketStatus, by_status)


async def _resolution(
    session: AsyncSession, scope: DashboardScope
) -> tuple[Resolution, list[Resolution]]:
    """Median and 90th percentile (percentile_cont) per type and over all types (ROLLUP)."""
    seconds = cast(extract("epoch", Ticket.closed_at - Ticket.created_at), Float)
    rows = await session.execute(
        select(
            Ticket.type,
            func.grouping(Ticket.type),
            func.count(),
            func.percentile_cont(0.5).within_group(seconds),
            func.percentile_cont(0.9).within_group(seconds),
        )
        .where(
            *_opened_in(scope),
            Ticket.status.in_(TERMINAL_STATUSES),
            Ticket.closed_at.is_not(None),
        )
        .group_by(func.rollup(Ticket.type))
    )
    overall = Resolution(None, 0, None, None)
    found: dict[str, Resolution] = {}
    for type_, everything, count, median, p90 in rows:
        figure = Resolution(type_, count, _seconds(median), _seconds(p90))
        if everything:
            overall = figure
        else:
            found[type_] = figure
    by_type = [found.pop(str(t), Resolution(str(t), 0, None, None)) for t in TicketType]
    return overall, by_type + [found[t] for t in sorted(found)]


async def _refunds(session: AsyncSession, scope: DashboardScope) -> list[CurrencyRefunds]:
    """Succeeded refunds per currency and per UTC day of success, and per currency in all."""
    # A refund's status changes only with an entry appended to its history
    # (activities/refund_records.status_change), so a succeeded refund's last entry is when, as
    # ISO 8601 text. Written with constants as the index ix_refunds_succeeded_at (migration
    # 0007) is, so that the planner matches it.
    last = Refund.status_history.op("->", return_type=JSONB)(literal_column("-1"))
    at_text = last.op("->>", return_type=Text)(literal_column("'at'"))
    succeeded_at = cast(at_text, DateTime(timezone=True))
    paid = select(
        Refund.currency, Refund.amount, cast(func.timezone("UTC", succeeded_at), Date).label("day")
    ).where(
        # Inline, so that even a generic plan of a prepared statement knows the index applies.
        Refund.status == literal(RefundStatus.succeeded.value, literal_execute=True),
        succeeded_at >= scope.start,
        succeeded_at < scope.end,
    )
    if scope.merchant_id is None:
        # Every shop's: a range of ix_refunds_succeeded_at. ISO 8601 text sorts by date first,
        # and a day either side covers any offset it may be written in; the exact bounds above
        # decide.
        paid = paid.where(
            at_text >= (scope.start - timedelta(days=1)).astimezone(UTC).isoformat(),
            at_text < (scope.end + timedelta(days=1)).astimezone(UTC).isoformat(),
        )
    else:
        # One shop's: its tickets (ix_tickets_merchant_id), then their refunds
        # (ix_refunds_ticket_no). The text range is left out: with it, the planner read a month
        # of every shop's refunds through the index instead, ten times slower.
        paid = paid.join(Ticket, Ticket.ticket_no == Refund.ticket_no).where(
            Ticket.merchant_id == scope.merchant_id
        )
    each = paid.subquery()
    rows = await session.execute(
        select(
            each.c.currency, each.c.day, func.grouping(each.c.day), func.sum(each.c.amount)
        ).group_by(func.grouping_sets(tuple_(each.c.currency, each.c.day), each.c.currency))
    )
    totals: dict[str, int] = {}
    days: dict[str, dict[date, int]] = {}
    # SUM(BIGINT) is NUMERIC: exact, and an int once here.
    for currency, on, per_currency, amount in rows:
        if per_currency:
            totals[currency] = int(amount)
        else:
            days.setdefault(currency, {})[on] = int(amount)
    return [
        CurrencyRefunds(currency, totals[currency], dict(sorted(days.get(currency, {}).items())))
        for currency in sorted(totals)
    ]


async def _due(
    session: AsyncSession, merchant_id: str | None, start: datetime, end: datetime, shown: int
) -> tuple[int, list[DueTicket]]:
    """Open tickets whose deadline falls in [start, end): how many, and the first `shown`."""
    rows = (
        await session.execute(
            select(
                Ticket.ticket_no,
                Ticket.merchant_id,
                Ticket.type,
                Ticket.status,
                Ticket.next_actor,
                Ticket.deadline_at,
                Ticket.on_timeout,
                # Counted over every row that matches, before the LIMIT.
                func.count().over(),
            )
            .where(
                *_merchant(merchant_id),
                Ticket.deadline_at >= start,
                Ticket.deadline_at < end,
                Ticket.status.not_in(TERMINAL_STATUSES),
            )
            .order_by(Ticket.deadline_at, Ticket.ticket_no)
            .limit(shown)
        )
    ).all()
    due: list[DueTicket] = []
    for ticket_no, merchant, type_, status, next_actor, deadline_at, on_timeout, _ in rows:
        assert deadline_at is not None  # bounded by the query
        due.append(
            DueTicket(ticket_no, merchant, type_, status, next_actor, deadline_at, on_timeout)
        )
    return (rows[0][7] if rows else 0), due


def _seconds(value: float | None) -> float | None:
    return None if value is None else float(value)


def _every(known: Iterable[str], counts: dict[str, int]) -> dict[str, int]:
    """Every known value in its declared order, zero when absent; unknown values after."""
    complete = {str(value): counts.pop(value, 0) for value in known}
    return complete | dict(sorted(counts.items()))
