"""Notifications over real SMTP (aiosmtpd), the sandbox SMS provider and signed webhooks:
planned once with their transition, sent once however often delivery is retried."""

# ruff: noqa: RUF001 (Chinese text uses full-width colons)

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

import contracts as c
from activities.notifications import NotificationActivities, message_id
from adapters.notifications.email import SmtpMailer
from adapters.notifications.sms import SandboxSms
from adapters.notifications.webhooks import DELIVERY_HEADER, SIGNATURE_HEADER, SignedWebhooks
from adapters.payments.signing import verify
from domain.events import TicketEvent
from domain.notifications import FixedRecipients
from domain.tickets import Actor, TicketStatus
from persistence.models import Buyer, Merchant, Notification, Order, Ticket
from persistence.notifications import plan_notifications, ticket_with_recipients
from stack.mailcatcher import MailSink, catching
from tests.support.servers import free_port, serving

SECRET = "whsec_notify_test"


@dataclass
class Receiver:
    """A merchant's or order system's webhook endpoint that can be told to fail."""

    status: int = 200
    calls: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            body = await request.body()
            verify(SECRET, request.headers.get(SIGNATURE_HEADER), body, int(time.time()), 300)
            self.calls.append(
                {"delivery": request.headers[DELIVERY_HEADER], "json": await request.json()}
            )
            return Response(status_code=self.status)

        return app


@dataclass
class World:
    sessions: async_sessionmaker[AsyncSession]
    mail: MailSink
    sms: SandboxSms
    receiver: Receiver
    hook_url: str
    recipients: FixedRecipients
    activities: NotificationActivities

    async def deliver(self, ticket_no: str, seq: int) -> int:
        batch = c.NotificationBatch(ticket_no=ticket_no, seq=seq)
        return int(await ActivityEnvironment().run(self.activities.deliver_notifications, batch))

    async def plan(self, transition: c.Transition) -> int:
        async with self.sessions.begin() as session:
            ticket = await ticket_with_recipients(session, transition.ticket_no)
            return await plan_notifications(session, transition, self.recipients, ticket)

    async def rows(self, ticket_no: str) -> list[Notification]:
        async with self.sessions() as session:
            found = await session.scalars(
                select(Notification)
                .where(Notification.ticket_no == ticket_no)
                .order_by(Notification.notification_id)
            )
            return list(found)


@pytest.fixture
async def world(sessions: async_sessionmaker[AsyncSession], tmp_path: Path) -> AsyncIterator[World]:
    receiver = Receiver()
    smtp_port = free_port()
    recipients = FixedRecipients(finance_email="finance@shop.test")
    sms = SandboxSms(tmp_path / "sms" / "outbox.jsonl")
    webhooks = SignedWebhooks(SECRET, timeout=5)
    mailer = SmtpMailer("127.0.0.1", smtp_port, "After-sales <aftersales@shop.test>", timeout=5)
    async with (
        catching("127.0.0.1", smtp_port, tmp_path / "mail") as mail,
        serving(receiver.app()) as base,
    ):
        yield World(
            sessions,
            mail,
            sms,
            receiver,
            f"{base}/hook",
            recipients,
            NotificationActivities(sessions, mailer, sms, webhooks),
        )


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def _ticket(
    world: World,
    *,
    buyer_locale: str,
    phone: str | None = None,
    merchant_webhook: bool = True,
    after_sales_status: str = "none",
) -> tuple[str, str, str]:
    """A stored ticket of a new buyer and merchant; (ticket_no, buyer_id, order_id)."""
    buyer_id, merchant_id, order_id = _id("b"), _id("m"), _id("O")
    ticket_no = f"NT{uuid.uuid4().hex[:12].upper()}"
    async with world.sessions.begin() as session:
        session.add(
            Buyer(
                buyer_id=buyer_id,
                name=buyer_id,
                email=f"{buyer_id}@buyers.test",
                phone=phone,
                locale=buyer_locale,
            )
        )
        session.add(
            Merchant(
                merchant_id=merchant_id,
                name=merchant_id,
                locale="en",
                email=f"{merchant_id}@merchants.test",
                webhook_url=world.hook_url if merchant_webhook else None,
            )
        )
        session.add(
            Order(
                order_id=order_id,
                buyer_id=buyer_id,
                merchant_id=merchant_id,
                currency="CNY",
                shipping_fee=0,
                payment={"provider": "sandbox", "reference": "p", "method": "wallet"},
                status="delivered",
                version=1,
                after_sales_status=after_sales_status,
                refunded_total=0,
            )
        )
        await session.flush()
        session.add(
            Ticket(
                ticket_no=ticket_no,
                order_id=order_id,
                buyer_id=buyer_id,
                merchant_id=merchant_id,
                type="return_refund",
                reason_code="damaged",
                currency="CNY",
                quoted_amount=25900,
                status="inspection_failed",
                policy={},
                created_by_role="buyer",
            )
        )
    return ticket_no, buyer_id, order_id


def _inspection_failed(ticket_no: str, seq: int = 5) -> c.Transition:
    return c.Transition(
        ticket_no=ticket_no,
        seq=seq,
        version=seq,
        at=datetime.now(UTC),
        actor_role=Actor.warehouse,
        actor_id="wh-1",
        event=TicketEvent.inspection_failed,
        from_status=TicketStatus.awaiting_inspection,
        to_status=TicketStatus.inspection_failed,
        next_actor=Actor.merchant,
        deadline_at=datetime.now(UTC) + timedelta(hours=48),
    )


def _channels(rows: list[Notification]) -> set[tuple[str, str]]:
    return {(row.recipient_role, row.channel) for row in rows}


async def test_planning_twice_inserts_nothing_new(world: World) -> None:
    ticket_no, _, _ = await _ticket(world, buyer_locale="zh-CN", phone="+8613800000001")
    transition = _inspection_failed(ticket_no)

    first = await world.plan(transition)
    again = await world.plan(transition)

    rows = await world.rows(ticket_no)
    # Seven rows, five of them to be sent: the two inbox messages are delivered as stored.
    assert len(rows) == 7 and first == 5 and again == 0
    assert _channels(rows) == {
        ("buyer", "email"),
        ("buyer", "sms"),
        ("buyer", "inbox"),
        ("merchant", "email"),
        ("merchant", "inbox"),
        ("merchant", "webhook"),
        ("finance", "email"),
    }
    assert {row.channel: row.status for row in rows} == {
        "email": "pending",
        "sms": "pending",
        "inbox": "delivered",
        "webhook": "pending",
    }


async def test_a_retried_delivery_sends_every_mail_once_in_the_buyers_language(
    world: World,
) -> None:
    zh_ticket, zh_buyer, _ = await _ticket(world, buyer_locale="zh-CN", phone="+8613800000002")
    en_ticket, en_buyer, _ = await _ticket(world, buyer_locale="en", merchant_webhook=False)
    await world.plan(_inspection_failed(zh_ticket))
    await world.plan(_inspection_failed(en_ticket))

    sent = [await world.deliver(zh_ticket, 5), await world.deliver(en_ticket, 5)]
    # A retry of the same activity (Temporal would run it again after a lost result).
    resent = [await world.deliver(zh_ticket, 5), await world.deliver(en_ticket, 5)]

    zh_rows, en_rows = await world.rows(zh_ticket), await world.rows(en_ticket)
    # Every row but the inbox messages, which were delivered when they were stored.
    assert sent == [5, 3] and resent == [0, 0]
    assert {row.status for row in zh_rows + en_rows} == {"sent", "delivered"}
    for row in zh_rows + en_rows:
        if row.channel == "email":
            assert len(world.mail.by_message_id(message_id(row))) == 1, row.address
    assert len(world.mail.messages) == 6
    zh_mail = next(m for m in world.mail.messages if m["To"] == f"{zh_buyer}@buyers.test")
    en_mail = next(m for m in world.mail.messages if m["To"] == f"{en_buyer}@buyers.test")
    assert zh_mail["Subject"] == f"退货验收未通过：{zh_ticket}"
    assert "当前状态：验收未通过" in zh_mail.get_content()
    assert (zh_mail["Content-Language"], en_mail["Content-Language"]) == ("zh-CN", "en")
    assert en_mail["Subject"] == f"Returned goods for {en_ticket} failed inspection"
    assert "Status: inspection failed" in en_mail.get_content()
    finance = [m for m in world.mail.messages if m["To"] == "finance@shop.test"]
    assert len(finance) == 2
    # The catcher keeps each mail as a file, as the run command's does.
    assert len(list((world.mail.directory or Path()).glob("*.eml"))) == 6
    texts = await world.sms.messages()
    assert [(t["to"], t["text"]) for t in texts] == [
        ("+8613800000002", f"退货验收未通过：{zh_ticket}")
    ]
    assert [call["json"]["ticket_no"] for call in world.receiver.calls] == [zh_ticket]


async def test_a_failing_webhook_is_retried_alone(world: World) -> None:
    ticket_no, _, _ = await _ticket(world, buyer_locale="en")
    await world.plan(_inspection_failed(ticket_no, seq=3))
    world.receiver.status = 500

    with pytest.raises(ApplicationError) as failed:
        await world.deliver(ticket_no, 3)

    rows = {(row.recipient_role, row.channel): row for row in await world.rows(ticket_no)}
    hook = rows["merchant", "webhook"]
    assert "HTTP 500" in str(failed.value)
    assert (hook.status, hook.attempts, hook.last_error) == (
        "failed",
        1,
        f"POST {world.hook_url}: HTTP 500",
    )
    assert all(
        row.status in ("sent", "delivered")
        for key, row in rows.items()
        if key != ("merchant", "webhook")
    )
    mails = len(world.mail.messages)

    world.receiver.status = 204
    assert await world.deliver(ticket_no, 3) == 1

    hook_after = {(r.recipient_role, r.channel): r for r in await world.rows(ticket_no)}[
        "merchant", "webhook"
    ]
    assert (hook_after.status, hook_after.attempts, hook_after.last_error) == ("sent", 2, None)
    assert len(world.mail.messages) == mails
    # Both attempts carried the same delivery id, so the receiver could drop a duplicate.
    assert len({call["delivery"] for call in world.receiver.calls}) == 1
    assert len(world.receiver.calls) == 2
    payload = world.receiver.calls[-1]["json"]
    assert (payload["type"], payload["to_status"], payload["seq"]) == (
        "ticket.inspection_failed",
        "inspection_failed",
        3,
    )
    assert payload["subject"] == f"Returned goods for {ticket_no} failed inspection"


async def test_the_order_system_hears_each_after_sales_status_once(world: World) -> None:
    world.recipients = dataclasses.replace(
        world.recipients, order_system_webhook_url=world.hook_url
    )
    ticket_no, _, order_id = await _ticket(
        world, buyer_locale="zh-CN", merchant_webhook=False, after_sales_status="refunding"
    )
    refunding = c.Transition(
        ticket_no=ticket_no,
        seq=1,
        version=1,
        at=datetime.now(UTC),
        actor_role=Actor.merchant,
        event=TicketEvent.approved_by_merchant,
        from_status=TicketStatus.awaiting_merchant_review,
        to_status=TicketStatus.refunding,
        data={"amount": 25900},
    )
    await world.plan(refunding)
    await world.plan(
        refunding.model_copy(update={"seq": 2, "event": TicketEvent.settlement_overdue})
    )
    async with world.sessions.begin() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        order.after_sales_status, order.refunded_total = "refunded", 25900
        order.closed_at = datetime.now(UTC)
    await world.plan(
        refunding.model_copy(
            update={
                "seq": 3,
                "event": TicketEvent.refund_settled,
                "to_status": TicketStatus.completed,
            }
        )
    )
    for seq in (1, 2, 3):
        await world.deliver(ticket_no, seq)

    told = [call["json"] for call in world.receiver.calls]
    assert [(p["after_sales_status"], p["refunded_total"], p["closed"]) for p in told] == [
        ("refunding", 0, False),
        ("refunded", 25900, True),
    ]
    assert {p["order_id"] for p in told} == {order_id}
    assert told[0]["type"] == "order.after_sales_status_changed"
