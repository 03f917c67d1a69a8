"""A return from approval to refund where only the courier's webhooks and the warehouse's scan
move the parcel (the buyer hands over the parcel of the courier's return label and types
nothing), and the buyer is told each step once, by mail, in the buyer's language."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import Counter
from typing import Any

import pytest

from tests.support.orders import buyer_id, line, order_body, put_order
from tests.support.stack import Stack
from tests.support.tickets import labelled, recently

MERCHANT, WAREHOUSE, PLATFORM = "merchant:m-1001", "warehouse:wh-1001", "platform:shop"
CJK = re.compile(r"[\u4e00-\u9fff]")


async def _return_journey(stack: Stack, locale: str) -> tuple[dict[str, Any], str]:
    email = f"{uuid.uuid4().hex[:8]}@buyers.example"
    buyer = await stack.new_buyer(locale=locale, email=email)
    order_id = f"J-{uuid.uuid4().hex[:10].upper()}"
    body = order_body(
        [line("L1", 2, 15900, 1000)],
        buyer=buyer_id(buyer),
        status="delivered",
        shipping=800,
        delivered_at=recently(),
    )
    body["shipping_address"] = "上海市浦东新区世纪大道 100 号"
    async with stack.client(PLATFORM) as platform:
        await put_order(platform, order_id, body)
    async with stack.client(buyer) as as_buyer:
        opened = await as_buyer.post(
            "/v1/tickets",
            json={
                "order_id": order_id,
                "type": "return_refund",
                "lines": [{"line_id": "L1", "quantity": 2}],
                "reason_code": "no_longer_needed",
            },
        )
        assert opened.status_code == 201, opened.text
        ticket_no = opened.json()["ticket_no"]
        await stack.ticket_when(buyer, ticket_no, "awaiting_merchant_review")
        async with stack.client(MERCHANT) as merchant:
            approved = await merchant.post(f"/v1/tickets/{ticket_no}/approve", json={})
        assert approved.status_code == 200, approved.text
    tracking_no = (await labelled(stack, buyer, ticket_no))["return_label"]["tracking_no"]

    # Only the courier moves the parcel now: each scan is a signed webhook to the API.
    async with stack.courier() as courier:
        for status in ("picked_up", "in_transit", "delivered"):
            scanned = await courier.post(
                f"/control/parcels/{tracking_no}/events", json={"status": status, "carrier": "sf"}
            )
            assert scanned.status_code == 201, scanned.text
    await stack.ticket_when(buyer, ticket_no, "awaiting_inspection")

    async with stack.client(WAREHOUSE) as warehouse:
        answer = await warehouse.post("/v1/warehouse/scans", json={"code": tracking_no})
        assert answer.status_code == 200 and answer.json()["outcome"] == "inspect", answer.text
        inspected = await warehouse.post(
            f"/v1/tickets/{ticket_no}/inspection",
            json={"lines": [{"line_id": "L1", "accepted": 2, "rejected": 0}], "note": "as new"},
        )
        assert inspected.status_code == 200, inspected.text
    done = await stack.ticket_when(buyer, ticket_no, "completed")
    return done, email


async def _mails_to(stack: Stack, address: str, expected: int) -> list[Any]:
    """The mails the SMTP server got for `address`, once delivery has settled."""

    def received() -> list[Any]:
        return [m for m in stack.mail.messages if address in m["To"]]

    async with asyncio.timeout(30):
        while len(received()) < expected:  # noqa: ASYNC110 - the SMTP server runs on its own
            await asyncio.sleep(0.2)
    await asyncio.sleep(1)  # a duplicate, if one were coming, would arrive by now
    return received()


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
async def test_a_return_moved_only_by_courier_and_scan_is_refunded_and_told_once(
    stack: Stack, locale: str
) -> None:
    ticket, email = await _return_journey(stack, locale)

    # 2 x 159.00 - 10.00 discount; buyer-fault reason after shipment: no shipping refunded.
    assert ticket["refunded_amount"] == 30800
    statuses = [step["to_status"] for step in ticket["timeline"]]
    assert statuses == [
        "awaiting_merchant_review",
        "awaiting_buyer_return",
        "awaiting_buyer_return",  # the return label, issued
        "return_in_transit",
        "awaiting_inspection",
        "refunding",
        "completed",
    ]
    assert ticket["timeline"][2]["event"] == "return_label_issued"
    delivered = ticket["timeline"][4]
    assert delivered["actor_role"] == "system" and delivered["event"] == "return_delivered"
    assert [e["status"] for e in ticket["tracking_events"]] == [
        "picked_up",
        "in_transit",
        "delivered",
    ]
    assert {e["source"] for e in ticket["tracking_events"]} <= {"webhook", "poll"}

    # One mail per step the buyer lives through (each change of state, and the label), none twice.
    mails = await _mails_to(stack, email, expected=len(statuses))
    assert len(mails) == len(statuses)
    assert len({m["Message-ID"] for m in mails}) == len(mails)
    subjects = Counter(str(m["Subject"]) for m in mails)
    assert all(count == 1 for count in subjects.values()), subjects
    assert all(ticket["ticket_no"] in subject for subject in subjects)
    written_in_chinese = [bool(CJK.search(str(m["Subject"]))) for m in mails]
    assert all(written_in_chinese) if locale == "zh-CN" else not any(written_in_chinese)
