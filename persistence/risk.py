"""Risk queries: a buyer's after-sales history, the support watchlist, evidence summaries."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Row, Select, and_, bindparam, exists, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.risk import HISTORY_WINDOW, REPEAT_TICKET_WINDOW, BuyerHistory
from domain.tickets import RefundStatus
from persistence.models import Order, Shipment, Ticket, WatchlistEntry
from persistence.tables import ORDERS, REFUNDS, TICKETS, WATCHLIST


async def buyer_history(
    session: AsyncSession, ticket: Ticket | Row[*tuple[Any, ...]], now: datetime
) -> BuyerHistory:
    """The history of `ticket`'s buyer over `HISTORY_WINDOW` before `now`, without `ticket`
    (its `ticket_no`, `buyer_id`, `order_id` and `created_at` are read)."""
    since = now - HISTORY_WINDOW
    rows = await session.execute(
        _refunded_tickets(),
        {"buyer": ticket.buyer_id, "since": since, "excluding": ticket.ticket_no},
    )
    refunded = [(order_id, currency, int(amount)) for order_id, currency, amount in rows]
    amounts: dict[str, int] = {}
    for _, currency, amount in refunded:
        amounts[currency] = amounts.get(currency, 0) + amount
    orders, repeats, watched = (
        await session.execute(
            _counts_and_watchlist(),
            {
                "buyer": ticket.buyer_id,
                "since": since,
                "order": ticket.order_id,
                "excluding": ticket.ticket_no,
                "opened_from": ticket.created_at - REPEAT_TICKET_WINDOW,
                "opened_to": ticket.created_at + REPEAT_TICKET_WINDOW,
            },
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


@cache
def _refunded_tickets() -> Select[str, str, int]:
    """(order_id, currency, refunded amount) of the buyer's other tickets (`excluding`) opened
    since `since` that returned money: a succeeded refund, or completed with a refunded
    amount."""
    tickets, refunds = TICKETS.c, REFUNDS.c
    succeeded = (
        select(func.coalesce(func.sum(refunds.amount), 0))
        .where(refunds.ticket_no == tickets.ticket_no, refunds.status == RefundStatus.succeeded)
        .scalar_subquery()
    )
    any_succeeded = exists().where(
        refunds.ticket_no == tickets.ticket_no, refunds.status == RefundStatus.succeeded
    )
    return select(
        tickets.order_id, tickets.currency, func.greatest(tickets.refunded_amount, succeeded)
    ).where(
        tickets.buyer_id == bindparam("buyer"),
        tickets.ticket_no != bindparam("excluding"),
        tickets.created_at >= bindparam("since"),
        or_(any_succeeded, and_(tickets.status == "completed", tickets.refunded_amount > 0)),
    )


@cache
def _counts_and_watchlist() -> Select[int, int, str | None]:
    """The buyer's orders since `since`, the other tickets on the same order opened near this
    one, and the buyer's watchlist reason, in one round trip."""
    tickets = TICKETS.c
    return select(
        select(func.count())
        .select_from(ORDERS)
        .where(ORDERS.c.buyer_id == bindparam("buyer"), ORDERS.c.created_at >= bindparam("since"))
        .scalar_subquery(),
        select(func.count())
        .select_from(TICKETS)
        .where(
            tickets.order_id == bindparam("order"),
            tickets.ticket_no != bindparam("excluding"),
            tickets.created_at.between(bindparam("opened_from"), bindparam("opened_to")),
        )
        .scalar_subquery(),
        select(WATCHLIST.c.reason)
        .where(WATCHLIST.c.buyer_id == bindparam("buyer"))
        .scalar_subquery(),
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
