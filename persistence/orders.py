"""Order snapshots: stored as sent by the platform, read back as domain objects."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload

from domain.orders import OrderLine as DomainLine
from domain.orders import OrderSnapshot, Payment
from domain.refund_terms import PriorRefunds
from domain.tickets import RefundStatus
from persistence.models import Order, OrderLine, Refund

# Refunds that left no money moved: they stop counting against the order's caps.
_NOT_COUNTED = frozenset({RefundStatus.voided, RefundStatus.failed, RefundStatus.reversed})


class StaleOrderVersion(Exception):
    def __init__(self, stored: int, sent: int) -> None:
        super().__init__(f"the stored order is at version {stored}; version {sent} is older")
        self.stored = stored
        self.sent = sent


class OrderVersionConflict(Exception):
    def __init__(self, version: int) -> None:
        super().__init__(f"version {version} is already stored with other content")
        self.version = version


def to_snapshot(order: Order) -> OrderSnapshot:
    return snapshot_of(
        order,
        [
            DomainLine(
                line_id=line.line_id,
                sku=line.sku,
                title=line.title,
                quantity=line.quantity,
                unit_price=line.unit_price,
                discount=line.discount,
                tags=tuple(line.tags or ()),
            )
            for line in order.lines
        ],
    )


def snapshot_of(order: Order | Row[*tuple[Any, ...]], lines: list[DomainLine]) -> OrderSnapshot:
    """The snapshot of a stored order, a mapped row or a row of the orders table's columns."""
    return OrderSnapshot(
        order_id=order.order_id,
        buyer_id=order.buyer_id,
        merchant_id=order.merchant_id,
        currency=order.currency,
        lines=lines,
        shipping_fee=order.shipping_fee,
        payment=Payment.model_validate(order.payment),
        status=order.status,
        shipped_at=order.shipped_at,
        delivered_at=order.delivered_at,
        shipping_address=order.shipping_address,
        version=order.version,
    )


async def get_order(
    session: AsyncSession, order_id: str, *, lock: bool = False, lines: bool = True
) -> Order | None:
    """`lines=False` leaves the order's lines unloaded: reading them raises."""
    query = select(Order).where(Order.order_id == order_id)
    if not lines:
        query = query.options(raiseload(Order.lines))
    if lock:
        # Serialises everything that touches one order's money (SPEC §4 caps).
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def upsert_order(session: AsyncSession, snapshot: OrderSnapshot) -> tuple[Order, str]:
    """Insert or replace a snapshot; returns the row and `created`, `updated` or `unchanged`."""
    order = await get_order(session, snapshot.order_id, lock=True)
    if order is not None:
        if order.version > snapshot.version:
            raise StaleOrderVersion(order.version, snapshot.version)
        if order.version == snapshot.version:
            if to_snapshot(order) != snapshot:
                raise OrderVersionConflict(snapshot.version)
            return order, "unchanged"
        outcome = "updated"
    else:
        outcome = "created"
        order = Order(order_id=snapshot.order_id, after_sales_status="none", refunded_total=0)
        session.add(order)
    order.buyer_id = snapshot.buyer_id
    order.merchant_id = snapshot.merchant_id
    order.currency = snapshot.currency
    order.shipping_fee = snapshot.shipping_fee
    order.payment = snapshot.payment.model_dump(mode="json")
    order.status = snapshot.status
    order.shipped_at = snapshot.shipped_at
    order.delivered_at = snapshot.delivered_at
    order.shipping_address = snapshot.shipping_address
    order.version = snapshot.version
    existing = {line.line_id: line for line in order.lines}
    lines = []
    for position, sent in enumerate(snapshot.lines):
        line = existing.get(sent.line_id) or OrderLine(
            order_id=snapshot.order_id, line_id=sent.line_id
        )
        line.position = position
        line.sku, line.title = sent.sku, sent.title
        line.quantity, line.unit_price, line.discount = (
            sent.quantity,
            sent.unit_price,
            sent.discount,
        )
        line.tags = list(sent.tags)
        lines.append(line)
    order.lines = lines
    await session.flush()
    return order, outcome


async def prior_refunds(session: AsyncSession, order_id: str) -> PriorRefunds:
    """Everything granted so far on the order; a grant counts until it is voided, the provider
    failed it, or the bank sent it back (no money stays moved: the ticket may try again)."""
    rows = (
        await session.execute(
            select(Refund).where(Refund.order_id == order_id, Refund.status.not_in(_NOT_COUNTED))
        )
    ).scalars()
    return counted_refunds(rows)


def counted_refunds(refunds: Iterable[Refund]) -> PriorRefunds:
    """The sums of the refunds that still count against the order (see `prior_refunds`)."""
    quantities: dict[str, int] = {}
    amounts: dict[str, int] = {}
    shipping = total = 0
    for refund in refunds:
        if refund.status in _NOT_COUNTED:
            continue
        for line_id, qty in refund.line_quantities.items():
            quantities[line_id] = quantities.get(line_id, 0) + int(qty)
        for line_id, amount in refund.line_amounts.items():
            amounts[line_id] = amounts.get(line_id, 0) + int(amount)
        shipping += refund.shipping_amount
        total += refund.amount
    return PriorRefunds(
        line_quantities=quantities,
        line_amounts=amounts,
        shipping_amount=shipping,
        total_amount=total,
    )
