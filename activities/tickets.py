"""Writes of the ticket's read model: its current state, timeline, parcels and inspection."""

from __future__ import annotations

from sqlalchemy import literal, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

import contracts as c
from activities.refunds import BookedRefund, book_refund
from domain.notifications import FixedRecipients
from domain.tickets import TERMINAL_STATUSES, TicketStatus
from observability import metrics
from persistence.models import Inspection, Shipment, Ticket, TimelineEntry, Warehouse
from persistence.notifications import (
    RECIPIENT_FACTS,
    plan_notifications,
    ticket_with_recipients,
    undelivered_ids,
    with_recipients,
)
from settings import NotificationSettings


class TicketActivities:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], notify: NotificationSettings
    ) -> None:
        self._sessions = sessions
        self._recipients = FixedRecipients(
            finance_email=notify.finance_email,
            finance_locale=notify.finance_locale,
            order_system_webhook_url=notify.order_system_webhook_url,
        )

    @activity.defn(name=c.RECORD_TRANSITION)
    async def record_transition(self, transition: c.Transition) -> int:
        """Idempotent: the (ticket_no, seq) key lets a retried write land once, with the
        settlement the step reports, when it carries one. Returns how many of the step's
        notifications are still to be sent (none: nothing to deliver)."""
        async with self._sessions.begin() as session:
            inserted = await session.execute(
                insert(TimelineEntry)
                .values(
                    ticket_no=transition.ticket_no,
                    seq=transition.seq,
                    at=transition.at,
                    actor_role=transition.actor_role,
                    actor_id=transition.actor_id,
                    event=transition.event,
                    from_status=transition.from_status,
                    to_status=transition.to_status,
                    reason=transition.reason,
                    data=transition.data,
                    deadline_at=transition.deadline_at,
                )
                .on_conflict_do_nothing(index_elements=["ticket_no", "seq"])
                .returning(TimelineEntry.entry_id)
            )
            if inserted.scalar_one_or_none() is None:
                return len(await undelivered_ids(session, transition.ticket_no, transition.seq))
            values = await _ticket_values(session, transition)
            settlement = transition.settlement
            booked: BookedRefund | None = None
            if settlement is not None:
                # The refund's final word and the step that reports it land together.
                booked = await book_refund(session, settlement, settlement.status)
                values["refunded_amount"] = booked.ticket_refunded
            # The ticket's new state, read back with its buyer and merchant for the messages.
            changed = (
                update(Ticket)
                .where(Ticket.ticket_no == transition.ticket_no)
                .where(Ticket.version < transition.version)
                .values(**values)
                .returning(*RECIPIENT_FACTS)
                .cte("changed")
            )
            ticket = (await session.execute(with_recipients(select(changed)))).one_or_none()
            if ticket is None:
                # A later step is written already: this one keeps its timeline entry and
                # messages, and the money it books.
                if booked is not None:
                    await session.execute(
                        update(Ticket)
                        .where(Ticket.ticket_no == transition.ticket_no)
                        .values(refunded_amount=booked.ticket_refunded)
                    )
                ticket = await ticket_with_recipients(session, transition.ticket_no)
            if transition.shipment is not None:
                await _record_shipment(session, transition.ticket_no, transition.shipment)
            if transition.inspection is not None:
                await _record_inspection(session, transition.ticket_no, transition.inspection)
            counted_type = await _type_if_counted(session, transition)
            # In the same transaction: a recorded step always has its notifications planned.
            to_send = await plan_notifications(session, transition, self._recipients, ticket)
        # Counted once committed, by the attempt whose timeline entry landed.
        metrics.transition_recorded(transition, counted_type)
        if booked is not None and booked.reached is not None:
            metrics.refund_reached(booked.reached, booked.destination, booked.since_grant)
        return to_send


async def _type_if_counted(session: AsyncSession, transition: c.Transition) -> str | None:
    """The ticket's type, for a step that opens or ends it (the metrics count those by type)."""
    if not (metrics.opens_ticket(transition) or metrics.ends_ticket(transition)):
        return None
    return await session.scalar(select(Ticket.type).where(Ticket.ticket_no == transition.ticket_no))


async def _ticket_values(session: AsyncSession, transition: c.Transition) -> dict[str, object]:
    values: dict[str, object] = {
        "status": transition.to_status,
        "version": transition.version,
        "next_actor": transition.next_actor,
        "deadline_at": transition.deadline_at,
        "on_timeout": transition.on_timeout,
    }
    if transition.granted_amount is not None:
        values["granted_amount"] = transition.granted_amount
    if transition.service_fee is not None:
        values["service_fee"] = transition.service_fee
    if transition.escalated is not None:
        values["escalated"] = transition.escalated
    if transition.evidence:
        values["evidence"] = Ticket.evidence.op("||")(literal(transition.evidence, JSONB))
    if transition.to_status in TERMINAL_STATUSES:
        values["closed_at"] = transition.at
    elif transition.from_status in TERMINAL_STATUSES:
        values["closed_at"] = None  # reopened: a refund came back after the ticket ended
    warehouse = transition.warehouse_id
    if warehouse is None and transition.to_status is TicketStatus.awaiting_buyer_return:
        # Approved without a chosen warehouse (automatically, say): the shop's first one.
        warehouse = await session.scalar(
            select(Warehouse.warehouse_id)
            .join(Ticket, Ticket.merchant_id == Warehouse.merchant_id)
            .where(Ticket.ticket_no == transition.ticket_no)
            .order_by(Warehouse.warehouse_id)
            .limit(1)
        )
    if warehouse is not None:
        values["warehouse_id"] = warehouse
    return values


async def _record_shipment(session: AsyncSession, ticket_no: str, parcel: c.ShipmentRecord) -> None:
    await session.execute(
        insert(Shipment)
        .values(ticket_no=ticket_no, **parcel.model_dump())
        .on_conflict_do_update(
            index_elements=["ticket_no", "direction"],
            set_={"status": parcel.status, "delivered_at": parcel.delivered_at},
        )
    )


async def _record_inspection(
    session: AsyncSession, ticket_no: str, inspection: c.InspectionRecord
) -> None:
    values = inspection.model_dump(mode="json", exclude={"at"})
    await session.execute(
        insert(Inspection)
        .values(ticket_no=ticket_no, at=inspection.at, **values)
        .on_conflict_do_nothing(index_elements=["ticket_no"])
    )
