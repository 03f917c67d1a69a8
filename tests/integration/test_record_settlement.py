"""A step that reports a settled refund: the refund, the order, the ticket's state and refunded
amount, its timeline entry and its messages land in one transaction; a step older than the
ticket's state still books its money and its messages without rolling the state back."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

import contracts as c
from activities.tickets import TicketActivities
from domain.events import TicketEvent
from domain.tickets import Actor, RefundStatus, TicketStatus, refund_idempotency_key
from persistence.models import Notification, Order, Refund, Ticket, TimelineEntry
from settings import NotificationSettings
from tests.integration.test_refund_retries import _activities, _ticket
from tests.support.stack import Stack


async def _granted_and_sent(stack: Stack) -> tuple[str, str]:
    ticket_no, _ = await _ticket(stack.sessions, "original")
    grants, execution = _activities(stack)
    key = refund_idempotency_key(ticket_no, 1)
    env = ActivityEnvironment()
    await env.run(
        grants.grant_refund,
        c.GrantRequest(ticket_no=ticket_no, refund_seq=1, idempotency_key=key),
    )
    await env.run(
        execution.execute_refund, c.RefundExecution(ticket_no=ticket_no, idempotency_key=key)
    )
    return ticket_no, key


def _completed(ticket_no: str, key: str, *, seq: int, version: int) -> c.Transition:
    return c.Transition(
        ticket_no=ticket_no,
        seq=seq,
        version=version,
        at=datetime.now(UTC),
        actor_role=Actor.system,
        event=TicketEvent.refund_settled,
        from_status=TicketStatus.refunding,
        to_status=TicketStatus.completed,
        reason="the payment provider confirmed the refund",
        settlement=c.Settlement(
            ticket_no=ticket_no,
            idempotency_key=key,
            status=RefundStatus.succeeded,
            source="webhook",
        ),
    )


async def _read(
    stack: Stack, ticket_no: str, key: str
) -> tuple[Ticket, Refund, Order, int, list[str]]:
    async with stack.sessions() as session:
        ticket = await session.get(Ticket, ticket_no)
        refund = (await session.scalars(select(Refund).where(Refund.idempotency_key == key))).one()
        order = await session.get(Order, refund.order_id)
        entries = len(
            (
                await session.scalars(
                    select(TimelineEntry).where(TimelineEntry.ticket_no == ticket_no)
                )
            ).all()
        )
        messages = list(
            await session.scalars(
                select(Notification.status).where(Notification.ticket_no == ticket_no)
            )
        )
    assert ticket is not None and order is not None
    return ticket, refund, order, entries, messages


async def test_a_settled_step_writes_state_money_timeline_and_messages_together(
    stack: Stack,
) -> None:
    ticket_no, key = await _granted_and_sent(stack)
    record = TicketActivities(stack.sessions, NotificationSettings())

    to_send = await ActivityEnvironment().run(
        record.record_transition, _completed(ticket_no, key, seq=1, version=1)
    )

    ticket, refund, order, entries, messages = await _read(stack, ticket_no, key)
    assert ticket.status == TicketStatus.completed and ticket.version == 1
    assert ticket.closed_at is not None
    assert ticket.refunded_amount == 3000
    assert refund.status == RefundStatus.succeeded
    assert (order.refunded_total, order.after_sales_status) == (3000, "refunded")
    assert entries == 1
    # Buyer and merchant are told (inbox stored as delivered, the rest still to send).
    assert messages  # the buyer's inbox at least
    assert to_send == messages.count("pending")


async def test_a_step_older_than_the_state_books_its_money_and_keeps_the_state(
    stack: Stack,
) -> None:
    ticket_no, key = await _granted_and_sent(stack)
    async with stack.sessions.begin() as session:
        ticket = await session.get(Ticket, ticket_no)
        assert ticket is not None
        ticket.version, ticket.status = 5, TicketStatus.under_arbitration
    record = TicketActivities(stack.sessions, NotificationSettings())

    to_send = await ActivityEnvironment().run(
        record.record_transition, _completed(ticket_no, key, seq=1, version=4)
    )

    ticket, refund, order, entries, messages = await _read(stack, ticket_no, key)
    assert (ticket.status, ticket.version) == (TicketStatus.under_arbitration, 5)
    assert ticket.refunded_amount == 3000
    assert refund.status == RefundStatus.succeeded
    assert order.refunded_total == 3000
    assert entries == 1
    assert messages  # the buyer's inbox at least
    assert to_send == messages.count("pending")
