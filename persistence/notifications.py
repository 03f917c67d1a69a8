"""Notifications: planned with the transition that owes them, sent later, read in the inbox.

Planning runs in the transaction that records the transition, so a recorded step always has its
messages and a step that was not recorded has none. The unique key (event_key, recipient_role,
recipient_id, channel) makes a repeated plan insert nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Row, Select, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

import contracts as c
from domain import notifications as n
from persistence.models import Notification, Order
from persistence.tables import BUYERS, MERCHANTS, NOTIFICATIONS, TICKETS

PENDING, SENT, FAILED, DELIVERED = "pending", "sent", "failed", "delivered"
# Recipients that are not a buyer or a merchant still need an id: NULLs never collide in a
# unique index, so a retried plan would insert them twice.
FINANCE_ID, ORDER_SYSTEM_ID = "finance", "order-system"


def event_key(ticket_no: str, seq: int) -> str:
    return f"{ticket_no}:{seq}"


# The ticket's columns its messages (and the metrics of its step) read; `with_recipients` adds
# its buyer's and merchant's.
RECIPIENT_FACTS = (
    TICKETS.c.type,
    TICKETS.c.order_id,
    TICKETS.c.buyer_id,
    TICKETS.c.merchant_id,
    TICKETS.c.currency,
    TICKETS.c.quoted_amount,
    TICKETS.c.granted_amount,
)


def with_recipients(tickets: Select[*tuple[Any, ...]]) -> Select[*tuple[Any, ...]]:
    """`tickets` (a select of RECIPIENT_FACTS) with the buyer's and the merchant's contact
    details, found or not."""
    row = tickets.selected_columns
    return (
        tickets.add_columns(
            BUYERS.c.buyer_id.label("buyer_found"),
            BUYERS.c.locale.label("buyer_locale"),
            BUYERS.c.email.label("buyer_email"),
            BUYERS.c.phone.label("buyer_phone"),
            MERCHANTS.c.merchant_id.label("merchant_found"),
            MERCHANTS.c.locale.label("merchant_locale"),
            MERCHANTS.c.email.label("merchant_email"),
            MERCHANTS.c.webhook_url.label("merchant_webhook_url"),
        )
        .outerjoin(BUYERS, BUYERS.c.buyer_id == row.buyer_id)
        .outerjoin(MERCHANTS, MERCHANTS.c.merchant_id == row.merchant_id)
    )


@cache
def _ticket_with_recipients() -> Select[*tuple[Any, ...]]:
    return with_recipients(
        select(*RECIPIENT_FACTS).where(TICKETS.c.ticket_no == bindparam("ticket_no"))
    )


async def ticket_with_recipients(session: AsyncSession, ticket_no: str) -> Row[Any] | None:
    """One ticket's RECIPIENT_FACTS and contact details, in one statement."""
    found = await session.execute(_ticket_with_recipients(), {"ticket_no": ticket_no})
    return found.one_or_none()


@cache
def _insert_notifications() -> ReturningInsert[tuple[str]]:
    return (
        insert(NOTIFICATIONS)
        .on_conflict_do_nothing(
            index_elements=["event_key", "recipient_role", "recipient_id", "channel"]
        )
        .returning(NOTIFICATIONS.c.status)
    )


async def plan_notifications(
    session: AsyncSession,
    transition: c.Transition,
    fixed: n.FixedRecipients,
    ticket: Row[Any] | None,
) -> int:
    """Insert what `transition` owes every recipient on every channel, finance and the order
    system as `fixed` names them; the number inserted that are still to be sent (an inbox
    message is delivered by being stored). `ticket` is the ticket's row of
    `ticket_with_recipients`, None when the ticket is not stored."""
    if ticket is None:
        return 0
    key = event_key(transition.ticket_no, transition.seq)
    facts = _facts(transition, ticket.order_id, ticket.currency, _amount(transition, ticket))
    step = n.Step(
        transition.event, transition.from_status, transition.to_status, transition.next_actor
    )
    rows: list[dict[str, Any]] = []
    for role in n.audience(step):
        contact = _contact(role, ticket, fixed)
        if contact is None:
            continue
        message = n.render(transition.event, contact.locale, facts)
        for channel, address in n.channels(contact):
            payload = _ticket_payload(key, role, transition, facts, message)
            rows.append(_row(key, transition, facts, contact, channel, address, message, payload))
    rows += await _order_system_rows(session, key, transition, ticket.order_id, fixed)
    if not rows:
        return 0
    # One statement for every row (SQLAlchemy's "insert many values" with RETURNING).
    inserted = await session.execute(_insert_notifications(), rows)
    return sum(1 for status in inserted.scalars() if status == PENDING)


def _amount(transition: c.Transition, ticket: Any) -> int:
    """The money the step is about: its refund, else the ticket's grant, else its quote."""
    amount = transition.data.get("amount")
    if isinstance(amount, int) and not isinstance(amount, bool):
        return amount
    for candidate in (transition.granted_amount, ticket.granted_amount):
        if candidate is not None:
            return int(candidate)
    return int(ticket.quoted_amount)


def _facts(transition: c.Transition, order_id: str, currency: str, amount: int) -> n.Facts:
    parcel = transition.shipment
    return n.Facts(
        ticket_no=transition.ticket_no,
        order_id=order_id,
        currency=currency,
        amount=amount,
        status=transition.to_status,
        deadline_at=transition.deadline_at,
        # A step about a parcel names it (shipped, delivered); a label's step has it in its data.
        carrier=parcel.carrier if parcel else str(transition.data.get("carrier", "")),
        tracking_no=parcel.tracking_no if parcel else str(transition.data.get("tracking_no", "")),
    )


def _contact(role: n.Recipient, ticket: Any, fixed: n.FixedRecipients) -> n.Contact | None:
    """Who `role` is for the ticket row of `plan_notifications`, and how to reach them."""
    if role is n.Recipient.buyer:
        if ticket.buyer_found is None:
            return n.Contact(role, ticket.buyer_id)
        return n.Contact(
            role,
            ticket.buyer_id,
            ticket.buyer_locale,
            email=ticket.buyer_email,
            phone=ticket.buyer_phone,
        )
    if role is n.Recipient.merchant:
        if ticket.merchant_found is None:
            return n.Contact(role, ticket.merchant_id)
        return n.Contact(
            role,
            ticket.merchant_id,
            ticket.merchant_locale,
            email=ticket.merchant_email,
            webhook_url=ticket.merchant_webhook_url,
        )
    if role is n.Recipient.finance and fixed.finance_email:
        return n.Contact(role, FINANCE_ID, fixed.finance_locale, email=fixed.finance_email)
    return None


def _ticket_payload(
    key: str, role: n.Recipient, transition: c.Transition, facts: n.Facts, message: n.Message
) -> dict[str, Any]:
    return {
        "id": f"{key}:{role}",
        "type": f"ticket.{transition.event}",
        "ticket_no": transition.ticket_no,
        "order_id": facts.order_id,
        "seq": transition.seq,
        "event": transition.event,
        "from_status": transition.from_status,
        "to_status": transition.to_status,
        "at": transition.at.isoformat(),
        "amount": facts.amount,
        "currency": facts.currency,
        "deadline_at": transition.deadline_at.isoformat() if transition.deadline_at else None,
        "subject": message.subject,
    }


def _row(
    key: str,
    transition: c.Transition,
    facts: n.Facts,
    contact: n.Contact,
    channel: n.Channel,
    address: str | None,
    message: n.Message,
    payload: dict[str, Any],
) -> dict[str, Any]:
    inbox = channel is n.Channel.inbox
    return {
        "event_key": key,
        "ticket_no": transition.ticket_no,
        "order_id": facts.order_id,
        "event": transition.event,
        "recipient_role": contact.role.value,
        "recipient_id": contact.recipient_id,
        "channel": channel.value,
        "locale": message.locale,
        "address": address,
        # A text message carries the subject line only.
        "subject": message.subject,
        "body": message.subject if channel is n.Channel.sms else message.body,
        "payload": payload if channel is n.Channel.webhook else {},
        # An inbox message is delivered by being stored: nothing is sent, nothing can fail.
        "status": DELIVERED if inbox else PENDING,
        "attempts": 1 if inbox else 0,
        "sent_at": datetime.now(UTC) if inbox else None,
    }


async def _order_system_rows(
    session: AsyncSession,
    key: str,
    transition: c.Transition,
    order_id: str,
    fixed: n.FixedRecipients,
) -> list[dict[str, Any]]:
    """The shop's order system hears of each change of the order's after-sales status."""
    if not fixed.order_system_webhook_url:
        return []
    order = (
        await session.execute(
            select(
                Order.after_sales_status, Order.refunded_total, Order.closed_at, Order.currency
            ).where(Order.order_id == order_id)
        )
    ).one_or_none()
    if order is None:
        return []
    now = n.OrderStatusView(
        order.after_sales_status, order.refunded_total, order.closed_at is not None
    )
    told = await session.scalar(
        select(Notification.payload)
        .where(
            Notification.recipient_role == n.Recipient.order_system.value,
            Notification.order_id == order_id,
        )
        .order_by(Notification.notification_id.desc())
        .limit(1)
    )
    last = (
        n.OrderStatusView(told["after_sales_status"], told["refunded_total"], told["closed"])
        if told
        else None
    )
    if not n.order_status_changed(last, now):
        return []
    payload = {
        "id": f"{key}:{n.Recipient.order_system}",
        "type": "order.after_sales_status_changed",
        "order_id": order_id,
        "after_sales_status": now.after_sales_status,
        "refunded_total": now.refunded_total,
        "currency": order.currency,
        "closed": now.closed,
        "ticket_no": transition.ticket_no,
        "event": transition.event,
        "at": transition.at.isoformat(),
    }
    return [
        {
            "event_key": key,
            "ticket_no": transition.ticket_no,
            "order_id": order_id,
            "event": transition.event,
            "recipient_role": n.Recipient.order_system.value,
            "recipient_id": ORDER_SYSTEM_ID,
            "channel": n.Channel.webhook.value,
            "locale": "en",
            "address": fixed.order_system_webhook_url,
            "subject": f"order {order_id}: after-sales status {now.after_sales_status}",
            "body": "",
            "payload": payload,
            "status": PENDING,
            "attempts": 0,
            "sent_at": None,
        }
    ]


# --- delivery bookkeeping ----------------------------------------------------------------------


async def undelivered_ids(session: AsyncSession, ticket_no: str, seq: int) -> list[int]:
    rows = await session.scalars(
        select(Notification.notification_id)
        .where(
            Notification.event_key == event_key(ticket_no, seq),
            Notification.status.in_((PENDING, FAILED)),
        )
        .order_by(Notification.notification_id)
    )
    return list(rows)


async def claim(session: AsyncSession, notification_id: int) -> Notification | None:
    """Lock one unsent row for this transaction; None when sent or held by another attempt."""
    return (
        await session.execute(
            select(Notification)
            .where(
                Notification.notification_id == notification_id,
                Notification.status.in_((PENDING, FAILED)),
            )
            .with_for_update(skip_locked=True)
        )
    ).scalar_one_or_none()


def mark_sent(row: Notification, provider_ref: str | None, status: str = SENT) -> None:
    row.status = status
    row.attempts += 1
    row.provider_ref = provider_ref
    row.last_error = None
    row.sent_at = func.now()


def mark_failed(row: Notification, error: str) -> None:
    row.status = FAILED
    row.attempts += 1
    row.last_error = error[:2000]


# --- inbox -------------------------------------------------------------------------------------


def _inbox_of(role: str, recipient_id: str | None) -> Sequence[Any]:
    return (
        Notification.channel == n.Channel.inbox.value,
        Notification.recipient_role == role,
        Notification.recipient_id == recipient_id,
    )


async def inbox(
    session: AsyncSession,
    role: str,
    recipient_id: str | None,
    *,
    limit: int,
    before: int | None = None,
    unread_only: bool = False,
) -> list[Notification]:
    """Newest first; `before` is the id of the last row already seen."""
    query = select(Notification).where(*_inbox_of(role, recipient_id))
    if before is not None:
        query = query.where(Notification.notification_id < before)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    query = query.order_by(Notification.notification_id.desc()).limit(limit)
    return list((await session.scalars(query)).all())


async def unread_count(session: AsyncSession, role: str, recipient_id: str | None) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(*_inbox_of(role, recipient_id), Notification.read_at.is_(None))
    )
    return int(count or 0)


async def mark_read(
    session: AsyncSession, notification_id: int, role: str, recipient_id: str | None
) -> Notification | None:
    """Mark one of the recipient's inbox rows read (the first time only); None if not theirs."""
    return (
        await session.execute(
            update(Notification)
            .where(Notification.notification_id == notification_id, *_inbox_of(role, recipient_id))
            .values(read_at=func.coalesce(Notification.read_at, func.now()))
            .returning(Notification)
        )
    ).scalar_one_or_none()
