"""Risk queries: a buyer's after-sales history, the support watchlist, evidence summaries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.risk import HISTORY_WINDOW, REPEAT_TICKET_WINDOW, BuyerHistory
from domain.tickets import RefundStatus
from persistence.models import Order, Refund, Shipment, Ticket, WatchlistEntry


async def buyer_history(session: AsyncSession, ticket: Ticket, now: datetime) -> BuyerHistory:
    """The history of `ticket`'s buyer over `HISTORY_WINDOW` before `now`, without `ticket`."""
    since = now - HISTORY_WINDOW
    rows = await session.execute(_refunded_tickets(ticket.buyer_id, since, ticket.ticket_no))
    refunded = [(order_id, currency, int(amount)) for order_id, currency, amount in rows]
    amounts: dict[str, int] = {}
    for _, currency, amount in refunded:
        amounts[currency] = amounts.get(currency, 0) + amount
    # The counts and the watchlist in one round trip.
    orders, repeats, watched = (
        await session.execute(
            select(
                select(func.count())
                .select_from(Order)
                .where(Order.buyer_id == ticket.buyer_id, Order.created_at >= since)
                .scalar_subquery(),
                select(func.count())
                .select_from(Ticket)
                .where(
                    Ticket.order_id == ticket.order_id,
                    Ticket.ticket_no != ticket.ticket_no,
                    Ticket.created_at.between(
                        ticket.created_at - REPEAT_TICKET_WINDOW,
                        ticket.created_at + REPEAT_TICKET_WINDOW,
                    ),
                )
                .scalar_subquery(),
                select(WatchlistEntry.reason)
                .where(WatchlistEntry.buyer_id == ticket.buyer_id)
                .scalar_subquery(),
            )
        )
    ).one()
    return BuyerHistory(
        orders=orders or 0,
        refunded_tickets=len(refunded),
        refunded_orders=len({order_id for order_id, _, _ in refunded}),
        refunded_amounts={c: a for c, a in amounts.items() if a > 0},
        tickets_on_order_24h=repeats or 0,
        watchlist_reason=watched,
    )


def _refunded_tickets(buyer_id: str, since: datetime, excluding: str) -> Select[str, str, int]:
    """(order_id, currency, refunded amount) of the buyer's other tickets opened since `since`
    that returned money: a succeeded refund, or completed with a refunded amount."""
    succeeded = (
        select(func.coalesce(func.sum(Refund.amount), 0))
        .where(Refund.ticket_no == Ticket.ticket_no, Refund.status == RefundStatus.succeeded)
        .scalar_subquery()
    )
    any_succeeded = exists().where(
        Refund.ticket_no == Ticket.ticket_no, Refund.status == RefundStatus.succeeded
    )
    return select(
        Ticket.order_id, Ticket.currency, func.greatest(Ticket.refunded_amount, succeeded)
    ).where(
        Ticket.buyer_id == buyer_id,
        Ticket.ticket_no != excluding,
        Ticket.created_at >= since,
        or_(any_succeeded, and_(Ticket.status == "completed", Ticket.refunded_amount > 0)),
    )


async def evidence_summary(
    session: AsyncSession, ticket: Ticket, history: BuyerHistory
) -> dict[str, Any]:
    """What support needs to decide a disputed ticket: order, logistics, history, evidence."""
    order = await session.get(Order, ticket.order_id)
    shipments = (
        await session.execute(
            select(Shipment)
            .where(Shipment.ticket_no == ticket.ticket_no)
            .order_by(Shipment.shipped_at, Shipment.shipment_id)
        )
    ).scalars()
    return {
        "order": _order(order) if order is not None else None,
        "logistics": [
            {
                "direction": s.direction,
                "carrier": s.carrier,
                "tracking_no": s.tracking_no,
                "status": s.status,
                "shipped_at": _iso(s.shipped_at),
                "delivered_at": _iso(s.delivered_at),
            }
            for s in shipments
        ],
        "history": history.figures(),
        "evidence": {"urls": list(ticket.evidence), "description": ticket.description},
    }


def _order(order: Order) -> dict[str, Any]:
    return {
        "id": order.order_id,
        "status": order.status,
        "paid_total": int(order.payment.get("paid_total", 0)),
        "currency": order.currency,
        "shipped_at": _iso(order.shipped_at),
        "delivered_at": _iso(order.delivered_at),
        "lines": [
            {
                "line_id": line.line_id,
                "sku": line.sku,
                "title": line.title,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "discount": line.discount,
            }
            for line in order.lines
        ],
    }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


async def watchlist(
    session: AsyncSession, *, limit: int, after: str | None = None
) -> list[WatchlistEntry]:
    """Entries by buyer id; `after` is the last buyer id already seen."""
    query = select(WatchlistEntry).order_by(WatchlistEntry.buyer_id).limit(limit)
    if after is not None:
        query = query.where(WatchlistEntry.buyer_id > after)
    return list((await session.execute(query)).scalars())


async def put_on_watchlist(
    session: AsyncSession, buyer_id: str, reason: str, added_by: str | None
) -> WatchlistEntry:
    """Add the buyer, or replace the reason of an entry already there."""
    entry = (
        await session.execute(
            insert(WatchlistEntry)
            .values(buyer_id=buyer_id, reason=reason, added_by=added_by)
            .on_conflict_do_update(
                index_elements=[WatchlistEntry.buyer_id],
                set_={"reason": reason, "added_by": added_by, "added_at": func.now()},
            )
            .returning(WatchlistEntry),
            execution_options={"populate_existing": True},
        )
    ).scalar_one()
    return entry


async def remove_from_watchlist(session: AsyncSession, buyer_id: str) -> bool:
    entry = await session.get(WatchlistEntry, buyer_id)
    if entry is None:
        return False
    await session.delete(entry)
    return True
