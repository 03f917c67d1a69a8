"""Return labels: who a ticket's return parcel goes from and to, and the label the courier
issued for it (one per ticket)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.models import Buyer, Merchant, Order, ReturnLabel, Ticket, Warehouse


@dataclass(frozen=True)
class LabelParties:
    """The buyer ships from the order's delivery address to the merchant's returns warehouse."""

    sender_name: str
    sender_address: str | None
    recipient_name: str
    recipient_address: str | None
    warehouse_id: str | None


@dataclass(frozen=True)
class IssuedByCourier:
    label_id: str
    carrier: str
    tracking_no: str
    dropoff_code: str
    document_url: str | None


async def label_of(session: AsyncSession, ticket_no: str) -> ReturnLabel | None:
    return await session.get(ReturnLabel, ticket_no)


async def label_parties(session: AsyncSession, ticket_no: str) -> LabelParties | None:
    """None while the ticket is not stored yet. The warehouse is the ticket's, else the
    merchant's first."""
    row = (
        await session.execute(
            select(
                Ticket.warehouse_id,
                Ticket.merchant_id,
                Order.shipping_address,
                Buyer.name.label("buyer_name"),
                Ticket.buyer_id,
                Merchant.name.label("merchant_name"),
            )
            .join(Order, Order.order_id == Ticket.order_id)
            .outerjoin(Buyer, Buyer.buyer_id == Ticket.buyer_id)
            .outerjoin(Merchant, Merchant.merchant_id == Ticket.merchant_id)
            .where(Ticket.ticket_no == ticket_no)
        )
    ).one_or_none()
    if row is None:
        return None
    warehouses = select(Warehouse).where(Warehouse.merchant_id == row.merchant_id)
    if row.warehouse_id is not None:
        warehouses = warehouses.where(Warehouse.warehouse_id == row.warehouse_id)
    warehouse = await session.scalar(
        warehouses.order_by(Warehouse.created_at, Warehouse.warehouse_id).limit(1)
    )
    merchant = row.merchant_name or row.merchant_id
    return LabelParties(
        sender_name=row.buyer_name or row.buyer_id,
        sender_address=row.shipping_address,
        recipient_name=f"{merchant} · {warehouse.name}" if warehouse else merchant,
        recipient_address=warehouse.address if warehouse else None,
        warehouse_id=warehouse.warehouse_id if warehouse else None,
    )


async def store_label(
    session: AsyncSession,
    ticket_no: str,
    idempotency_key: str,
    issued: IssuedByCourier,
    parties: LabelParties,
    at: datetime,
) -> ReturnLabel:
    """The ticket's label: this one, or the one a retry stored first (same key, same label)."""
    await session.execute(
        insert(ReturnLabel)
        .values(
            ticket_no=ticket_no,
            idempotency_key=idempotency_key,
            label_id=issued.label_id,
            carrier=issued.carrier,
            tracking_no=issued.tracking_no,
            dropoff_code=issued.dropoff_code,
            document_url=issued.document_url,
            warehouse_id=parties.warehouse_id,
            sender_name=parties.sender_name,
            sender_address=parties.sender_address or "",
            recipient_name=parties.recipient_name,
            recipient_address=parties.recipient_address or "",
            issued_at=at,
        )
        .on_conflict_do_nothing(index_elements=["ticket_no"])
    )
    stored = await session.get(ReturnLabel, ticket_no, populate_existing=True)
    assert stored is not None
    return stored


async def ticket_of_label(session: AsyncSession, carrier: str, tracking_no: str) -> str | None:
    return await session.scalar(
        select(ReturnLabel.ticket_no).where(
            ReturnLabel.carrier == carrier, ReturnLabel.tracking_no == tracking_no
        )
    )
