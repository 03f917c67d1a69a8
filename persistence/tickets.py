"""Ticket queries: numbering, open lines, the caller's view of lists and details."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from domain.tickets import TERMINAL_STATUSES, TicketStatus, ticket_number
from persistence.models import Refund, Ticket, TicketLine, TimelineEntry


async def next_ticket_no(session: AsyncSession, day: datetime) -> str:
    sequence = await session.scalar(text("SELECT nextval('ticket_no_seq')"))
    return ticket_number(day.strftime("%Y%m%d"), int(sequence or 0))


async def lines_with_open_tickets(session: AsyncSession, order_id: str) -> dict[str, str]:
    """line_id -> the open ticket holding it (SPEC §2: one open ticket per order line).

    A rejected ticket no longer holds its lines: the buyer may apply for them again."""
    rows = await session.execute(
        select(TicketLine.line_id, Ticket.ticket_no)
        .join(Ticket, Ticket.ticket_no == TicketLine.ticket_no)
        .where(
            TicketLine.order_id == order_id,
            Ticket.status.not_in([*TERMINAL_STATUSES, TicketStatus.rejected]),
        )
    )
    return {line_id: ticket_no for line_id, ticket_no in rows.all()}


@dataclass(frozen=True)
class Scope:
    """Whose tickets a caller may see; `None` fields do not restrict."""

    buyer_id: str | None = None
    merchant_id: str | None = None
    warehouse_id: str | None = None

    def apply(self, query: Select[Ticket]) -> Select[Ticket]:
        if self.buyer_id is not None:
            query = query.where(Ticket.buyer_id == self.buyer_id)
        if self.merchant_id is not None:
            query = query.where(Ticket.merchant_id == self.merchant_id)
        if self.warehouse_id is not None:
            query = query.where(Ticket.warehouse_id == self.warehouse_id)
        return query


@dataclass(frozen=True)
class TicketFilter:
    type: str | None = None
    status: str | None = None
    order_id: str | None = None
    ticket_no: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    # True: only tickets still going (not completed, cancelled or closed); False: only those.
    is_open: bool | None = None


async def find_ticket(session: AsyncSession, ticket_no: str, scope: Scope) -> Ticket | None:
    query = scope.apply(select(Ticket).where(Ticket.ticket_no == ticket_no))
    return (await session.execute(query)).scalar_one_or_none()


def listed(scope: Scope, where: TicketFilter) -> Select[Ticket]:
    """The tickets `scope` sees that match `where`, in no order."""
    query = scope.apply(select(Ticket))
    if where.type:
        query = query.where(Ticket.type == where.type)
    if where.status:
        query = query.where(Ticket.status == where.status)
    if where.is_open is not None:
        ended = Ticket.status.in_(sorted(TERMINAL_STATUSES))
        query = query.where(~ended if where.is_open else ended)
    if where.order_id:
        query = query.where(Ticket.order_id == where.order_id)
    if where.ticket_no:
        query = query.where(Ticket.ticket_no == where.ticket_no)
    if where.created_from:
        query = query.where(Ticket.created_at >= where.created_from)
    if where.created_to:
        query = query.where(Ticket.created_at < where.created_to)
    return query


async def list_tickets(
    session: AsyncSession,
    scope: Scope,
    where: TicketFilter,
    *,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[Ticket]:
    """Newest first; `after` is the (created_at, ticket_no) of the last row already seen."""
    query = listed(scope, where)
    if after is not None:
        query = query.where(tuple_(Ticket.created_at, Ticket.ticket_no) < tuple_(*after))
    query = query.order_by(Ticket.created_at.desc(), Ticket.ticket_no.desc()).limit(limit)
    return list((await session.execute(query)).scalars())


async def timeline(session: AsyncSession, ticket_no: str) -> list[TimelineEntry]:
    rows = await session.execute(
        select(TimelineEntry)
        .where(TimelineEntry.ticket_no == ticket_no)
        .order_by(TimelineEntry.seq)
    )
    return list(rows.scalars())


async def refunds(session: AsyncSession, ticket_no: str) -> list[Refund]:
    rows = await session.execute(
        select(Refund).where(Refund.ticket_no == ticket_no).order_by(Refund.seq)
    )
    return list(rows.scalars())
