"""Writes of the ticket's read model: its current state, timeline, parcels and inspection."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Row, Select, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.dml import ReturningInsert
from temporalio import activity

import contracts as c
from activities.refunds import BookedRefund, book_refund, set_refunded
from domain.notifications import FixedRecipients
from domain.tickets import TERMINAL_STATUSES, TicketStatus
from observability import metrics
from persistence.models import Inspection, Shipment, Ticket, Warehouse
from persistence.notifications import (
    RECIPIENT_FACTS,
    plan_notifications,
    ticket_with_recipients,
    undelivered_ids,
    with_recipients,
)
from persistence.tables import TICKETS, TIMELINE, new_values
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
                _insert_entry(),
                {
                    "ticket_no": transition.ticket_no,
                    "seq": transition.seq,
                    "at": transition.at,
                    "actor_role": transition.actor_role,
                    "actor_id": transition.actor_id,
                    "event": transition.event,
                    "from_status": transition.from_status,
                    "to_status": transition.to_status,
                    "reason": transition.reason,
                    "data": transition.data,
                    "deadline_at": transition.deadline_at,
                },
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
            ticket = (
                await session.execute(
                    _change_ticket(tuple(sorted(values))),
                    {f"new_{key}": value for key, value in values.items()}
                    | {"which_ticket": transition.ticket_no, "older_than": transition.version},
                )
            ).one_or_none()
            if ticket is None:
                # A later step is written already: this one keeps its timeline entry and
                # messages, and the money it books.
                if booked is not None:
                    await session.execute(
                        *set_refunded(transition.ticket_no, booked.ticket_refunded)
                    )
                ticket = await ticket_with_recipients(session, transition.ticket_no)
            if transition.shipment is not None:
                await _record_shipment(session, transition.ticket_no, transition.shipment)
            if transition.inspection is not None:
                await _record_inspection(session, transition.ticket_no, transition.inspection)
            counted_type = _type_if_counted(transition, ticket)
            # In the same transaction: a recorded step always has its notifications planned.
            to_send = await plan_notifications(session, transition, self._recipients, ticket)
        # Counted once committed, by the attempt whose timeline entry landed.
        metrics.transition_recorded(transition, counted_type)
        if booked is not None and booked.reached is not None:
            metrics.refund_reached(booked.reached, booked.destination, booked.since_grant)
        return to_send


def _type_if_counted(transition: c.Transition, ticket: Row[*tuple[Any, ...]] | None) -> str | None:
    """The ticket's type, for a step that opens or ends it (the metrics count those by type)."""
    if ticket is None or not (metrics.opens_ticket(transition) or metrics.ends_ticket(transition)):
        return None
    return str(ticket.type)


@cache
def _insert_entry() -> ReturningInsert[tuple[int]]:
    return (
        insert(TIMELINE)
        .on_conflict_do_nothing(index_elements=["ticket_no", "seq"])
        .returning(TIMELINE.c.entry_id)
    )


@cache
def _change_ticket(columns: tuple[str, ...]) -> Select[*tuple[Any, ...]]:
    """The ticket's change of `columns` (each value bound as `new_<column>`; new evidence is
    appended to the ticket's) unless a later step is written already, read back with its buyer
    and merchant: one statement for each set of columns a step changes."""
    values: dict[str, Any] = dict(new_values(TICKETS, columns))
    if "evidence" in values:
        values["evidence"] = TICKETS.c.evidence.op("||")(values["evidence"])
    changed = (
        update(TICKETS)
        .where(TICKETS.c.ticket_no == bindparam("which_ticket"))
        .where(TICKETS.c.version < bindparam("older_than"))
        .values(values)
        .returning(*RECIPIENT_FACTS)
        .cte("changed")
    )
    return with_recipients(select(changed))


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
        values["evidence"] = transition.evidence  # appended to the ticket's (`_change_ticket`)
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
