"""Courier tracking events: stored once per (carrier, event id), whether a webhook or a poll
brought them, and linked to the ticket whose parcel they concern."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.labels import ticket_of_label
from persistence.models import Shipment, TrackingEvent


async def ticket_of_parcel(session: AsyncSession, carrier: str, tracking_no: str) -> str | None:
    """The ticket whose return or replacement parcel this is; with several, the one that shipped
    last under the same carrier code (buyers type `SF` for `sf`). A parcel not shipped yet is
    the ticket's whose return label it is: the courier's first scan is its shipping."""
    same_carrier = func.lower(func.trim(Shipment.carrier)) == carrier
    shipped = await session.scalar(
        select(Shipment.ticket_no)
        .where(Shipment.tracking_no == tracking_no)
        .order_by(same_carrier.desc(), Shipment.shipped_at.desc())
        .limit(1)
    )
    return shipped if shipped is not None else await ticket_of_label(session, carrier, tracking_no)


async def store_event(
    session: AsyncSession,
    *,
    carrier: str,
    event_id: str,
    tracking_no: str,
    ticket_no: str | None,
    status: str,
    description: str,
    location: str | None,
    occurred_at: datetime,
    source: str,
) -> bool:
    """Whether the event is new for `ticket_no`: stored now, or stored before without a ticket
    (the courier scanned it before the parcel was registered) and linked now."""
    statement = insert(TrackingEvent).values(
        carrier=carrier,
        event_id=event_id,
        tracking_no=tracking_no,
        ticket_no=ticket_no,
        status=status,
        description=description,
        location=location,
        occurred_at=occurred_at,
        source=source,
    )
    linked = statement.on_conflict_do_update(
        index_elements=["carrier", "event_id"],
        set_={"ticket_no": statement.excluded.ticket_no},
        where=TrackingEvent.ticket_no.is_(None) & statement.excluded.ticket_no.is_not(None),
    )
    stored = await session.scalar(linked.returning(TrackingEvent.tracking_event_id))
    return stored is not None and ticket_no is not None


async def events_of(session: AsyncSession, ticket_no: str) -> list[TrackingEvent]:
    """The ticket's tracking events, in the order they happened."""
    query = (
        select(TrackingEvent)
        .where(TrackingEvent.ticket_no == ticket_no)
        .order_by(TrackingEvent.occurred_at, TrackingEvent.tracking_event_id)
    )
    return list((await session.execute(query)).scalars())
