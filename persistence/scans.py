"""Warehouse inbound scans: the tickets a scanned code may name, and the record of each scan."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.models import Inspection, OrderLine, Shipment, Ticket, TicketLine, WarehouseScan

RETURN = "return"


@dataclass(frozen=True)
class ScannedLine:
    line_id: str
    sku: str
    title: str
    quantity: int


async def tickets_for_code(session: AsyncSession, warehouse_id: str, code: str) -> list[Ticket]:
    """Tickets of this warehouse whose number, or whose return parcel's tracking number, is
    `code` (either case). A tracking number may be reused by a courier, so there can be several."""
    wanted = code.upper()
    by_parcel = (
        select(Shipment.ticket_no)
        .where(Shipment.direction == RETURN, func.upper(Shipment.tracking_no) == wanted)
        .scalar_subquery()
    )
    query = (
        select(Ticket)
        .where(
            Ticket.warehouse_id == warehouse_id,
            or_(func.upper(Ticket.ticket_no) == wanted, Ticket.ticket_no.in_(by_parcel)),
        )
        .order_by(Ticket.created_at.desc())
        .limit(20)
    )
    return list((await session.execute(query)).scalars())


async def return_tracking_no(session: AsyncSession, ticket_no: str) -> str | None:
    return await session.scalar(
        select(Shipment.tracking_no).where(
            Shipment.ticket_no == ticket_no, Shipment.direction == RETURN
        )
    )


async def is_inspected(session: AsyncSession, ticket_no: str) -> bool:
    return bool(await session.scalar(select(exists().where(Inspection.ticket_no == ticket_no))))


async def ticket_lines(session: AsyncSession, ticket: Ticket) -> list[ScannedLine]:
    """The ticket's lines with what the order says they are, in the order's line order."""
    rows = await session.execute(
        select(TicketLine.line_id, OrderLine.sku, OrderLine.title, TicketLine.quantity)
        .join(
            OrderLine,
            (OrderLine.order_id == TicketLine.order_id) & (OrderLine.line_id == TicketLine.line_id),
        )
        .where(TicketLine.ticket_no == ticket.ticket_no)
        .order_by(OrderLine.position, TicketLine.line_id)
    )
    return [ScannedLine(*row) for row in rows.all()]


async def record_scan(
    session: AsyncSession,
    *,
    warehouse_id: str,
    code: str,
    ticket_no: str | None,
    outcome: str,
    scanned_by: str | None,
    at: datetime,
) -> WarehouseScan:
    scan = WarehouseScan(
        warehouse_id=warehouse_id,
        code=code,
        ticket_no=ticket_no,
        outcome=outcome,
        scanned_by=scanned_by,
        scanned_at=at,
    )
    session.add(scan)
    await session.flush()
    return scan
