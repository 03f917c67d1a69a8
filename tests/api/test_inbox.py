"""The in-app inbox: each buyer and merchant reads and marks only their own notifications."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import contracts as c
from domain.events import TicketEvent as E
from domain.notifications import FixedRecipients
from domain.tickets import Actor, TicketStatus
from persistence.models import Order, Ticket
from persistence.notifications import plan_notifications, ticket_with_recipients
from tests.support.orders import buyer_id
from tests.support.stack import Stack

MERCHANT = "merchant:m-1001"
S = TicketStatus


async def _ticket_with_news(stack: Stack, label: str) -> str:
    """A stored ticket of m-1001 whose three recorded steps planned their notifications."""
    buyer = buyer_id(label)
    order_id = f"IN-{uuid.uuid4().hex[:10].upper()}"
    ticket_no = f"IN{uuid.uuid4().hex[:12].upper()}"
    now = datetime.now(UTC)
    steps = [
        (E.submitted_for_review, S.submitted, S.awaiting_merchant_review, Actor.merchant),
        (E.rejected_by_merchant, S.awaiting_merchant_review, S.rejected, Actor.buyer),
        (E.escalated_by_buyer, S.rejected, S.under_arbitration, Actor.support),
    ]
    async with stack.sessions.begin() as session:
        session.add(
            Order(
                order_id=order_id,
                buyer_id=buyer,
                merchant_id="m-1001",
                currency="CNY",
                shipping_fee=0,
                payment={"provider": "sandbox", "reference": "p", "method": "wallet"},
                status="delivered",
                version=1,
            )
        )
        await session.flush()
        session.add(
            Ticket(
                ticket_no=ticket_no,
                order_id=order_id,
                buyer_id=buyer,
                merchant_id="m-1001",
                type="refund_only",
                reason_code="damaged",
                currency="CNY",
                quoted_amount=4200,
                status="under_arbitration",
                policy={},
                created_by_role="buyer",
            )
        )
        await session.flush()
        for seq, (event, before, after, next_actor) in enumerate(steps, start=1):
            transition = c.Transition(
                ticket_no=ticket_no,
                seq=seq,
                version=seq,
                at=now,
                actor_role=Actor.system,
                event=event,
                from_status=before,
                to_status=after,
                next_actor=next_actor,
                deadline_at=now + timedelta(days=2),
            )
            ticket = await ticket_with_recipients(session, ticket_no)
            await plan_notifications(session, transition, FixedRecipients(), ticket)
    return ticket_no


async def test_a_buyer_pages_through_and_reads_their_inbox(stack: Stack) -> None:
    label = await stack.new_buyer(locale="en")
    ticket_no = await _ticket_with_news(stack, label)

    async with stack.client(label) as buyer:
        first = (await buyer.get("/v1/inbox", params={"limit": 2})).json()
        second = (
            await buyer.get("/v1/inbox", params={"limit": 2, "cursor": first["next_cursor"]})
        ).json()
        newest = first["items"][0]["notification_id"]
        read = await buyer.post(f"/v1/inbox/{newest}/read")
        read_again = await buyer.post(f"/v1/inbox/{newest}/read")
        unread = (await buyer.get("/v1/inbox", params={"unread": "true"})).json()

    assert [item["event"] for item in first["items"] + second["items"]] == [
        "escalated_by_buyer",
        "rejected_by_merchant",
        "submitted_for_review",
    ]
    assert first["next_cursor"] and second["next_cursor"] is None
    assert first["unread"] == 3
    item = first["items"][1]
    assert item["ticket_no"] == ticket_no and item["locale"] == "en"
    assert item["subject"] == f"The merchant rejected request {ticket_no}"
    assert "Status: rejected" in item["body"] and item["read"] is False
    assert read.status_code == 200, read.text
    assert read.json()["read"] is True
    assert read_again.json()["read_at"] == read.json()["read_at"]
    assert [i["event"] for i in unread["items"]] == ["rejected_by_merchant", "submitted_for_review"]
    assert unread["unread"] == 2


async def test_the_merchant_sees_its_own_side_in_its_locale(stack: Stack) -> None:
    label = await stack.new_buyer(locale="en")
    ticket_no = await _ticket_with_news(stack, label)

    async with stack.client(MERCHANT) as merchant:
        page = (await merchant.get("/v1/inbox", params={"limit": 200})).json()

    ours = [item for item in page["items"] if item["ticket_no"] == ticket_no]
    # Reminders, escalations and new tickets, not the buyer's own rejection notice.
    assert [item["event"] for item in ours] == ["escalated_by_buyer", "submitted_for_review"]
    assert {item["locale"] for item in ours} == {"zh-CN"}
    assert ours[1]["subject"] == f"售后申请 {ticket_no} 已提交，等待商家审核"  # noqa: RUF001


async def test_nobody_reads_anothers_notifications(stack: Stack) -> None:
    owner = await stack.new_buyer()
    stranger = await stack.new_buyer()
    await _ticket_with_news(stack, owner)
    async with stack.client(owner) as buyer:
        theirs = (await buyer.get("/v1/inbox")).json()["items"][0]["notification_id"]

    async with stack.client(stranger) as other:
        by_stranger = await other.post(f"/v1/inbox/{theirs}/read")
        strangers_inbox = (await other.get("/v1/inbox")).json()
    async with stack.client(MERCHANT) as merchant:
        by_merchant = await merchant.post(f"/v1/inbox/{theirs}/read")
    async with stack.client("warehouse:wh-1001") as warehouse:
        by_warehouse = await warehouse.get("/v1/inbox")
    async with stack.client(None) as anonymous:
        by_anonymous = await anonymous.get("/v1/inbox")
    async with stack.client(owner) as buyer:
        still_unread = (await buyer.get("/v1/inbox", params={"unread": "true"})).json()

    assert by_stranger.status_code == 404
    assert by_stranger.json()["code"] == "notification_not_found"
    assert by_merchant.status_code == 404
    assert strangers_inbox == {"items": [], "next_cursor": None, "unread": 0}
    assert by_warehouse.status_code == 403
    assert by_anonymous.status_code == 401
    assert theirs in [item["notification_id"] for item in still_unread["items"]]
