"""A ticket's lines with reasons of their own: the quote, the ticket and the refund follow each
line's reason (shipping after shipment, the service fee), and so does the report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.orders import application, buyer_id, line, new_order_id, order_body, put_order
from tests.support.stack import Stack

LINES = [("L1", 1), ("L2", 1)]


async def _delivered_order(stack: Stack, label: str) -> str:
    """A mug (40.00) and a shirt (25.00) with 8.00 shipping, delivered yesterday."""
    order_id = new_order_id()
    body = order_body(
        [line("L1", 1, 4000), line("L2", 1, 2500)],
        buyer=buyer_id(label),
        shipping=800,
        status="delivered",
        delivered_at=(datetime.now(UTC) - timedelta(days=1)).isoformat(),
    )
    async with stack.client("platform:shop") as platform:
        await put_order(platform, order_id, body)
    return order_id


def _lines(mug: str | None, shirt: str | None) -> list[dict[str, Any]]:
    return [
        {"line_id": "L1", "quantity": 1, **({"reason_code": mug} if mug else {})},
        {"line_id": "L2", "quantity": 1, **({"reason_code": shirt} if shirt else {})},
    ]


async def test_shipping_and_the_fee_follow_each_lines_reason(stack: Stack) -> None:
    label = await stack.new_buyer()
    order_id = await _delivered_order(stack, label)
    quote_url = f"/v1/orders/{order_id}/refund-quote"
    async with stack.client(label) as buyer:
        plain = await buyer.post(
            quote_url, json={"lines": _lines(None, None), "reason_code": "wrong_size_or_model"}
        )
        mixed = await buyer.post(
            quote_url,
            json={
                "lines": _lines("damaged_in_transit", None),
                "reason_code": "wrong_size_or_model",
            },
        )
        fee_too_high = await buyer.post(
            quote_url,
            json={
                "lines": _lines("damaged_in_transit", None),
                "reason_code": "wrong_size_or_model",
                "service_fee": 2501,
            },
        )
        fee_on_shirt = await buyer.post(
            quote_url,
            json={
                "lines": _lines("damaged_in_transit", None),
                "reason_code": "wrong_size_or_model",
                "service_fee": 2500,
            },
        )
        created = await buyer.post(
            "/v1/tickets",
            json={
                **application(order_id, *LINES, reason_code="wrong_size_or_model"),
                "type": "return_refund",
                "lines": _lines("damaged_in_transit", None),
            },
        )
    # Buyer's fault on both lines: no shipping after shipment. One line broken in the parcel:
    # shipping comes back, and a fee may fall on the shirt only.
    assert plain.json()["shipping_amount"] == 0
    assert mixed.json()["shipping_amount"] == 800
    assert "line L1: damaged_in_transit" in " ".join(mixed.json()["notes"])
    assert (fee_too_high.status_code, fee_too_high.json()["code"]) == (
        422,
        "service_fee_out_of_range",
    )
    assert "on the lines of buyer-fault reasons" in fee_too_high.json()["detail"]
    assert fee_on_shirt.status_code == 200 and fee_on_shirt.json()["total"] == 4000 + 800
    assert created.status_code == 201, created.text
    ticket = created.json()
    assert ticket["quoted_amount"] == 4000 + 2500 + 800
    assert [(x["line_id"], x["reason_code"]) for x in ticket["lines"]] == [
        ("L1", "damaged_in_transit"),
        ("L2", None),
    ]


async def test_a_merchant_may_not_charge_a_fee_when_every_line_is_its_fault(
    stack: Stack,
) -> None:
    label = await stack.new_buyer()
    order_id = await _delivered_order(stack, label)
    async with stack.client(label) as buyer:
        refused = await buyer.post(
            f"/v1/orders/{order_id}/refund-quote",
            json={
                "lines": _lines("damaged_in_transit", "wrong_item"),
                "reason_code": "no_longer_needed",
                "service_fee": 1,
            },
        )
    assert (refused.status_code, refused.json()["code"]) == (422, "service_fee_not_allowed")
    assert "every line's reason is the merchant's fault" in refused.json()["detail"]


async def test_the_refund_granted_follows_each_lines_reason(stack: Stack) -> None:
    label = await stack.new_buyer()
    order_id = await _delivered_order(stack, label)
    async with stack.client(label) as buyer:
        created = await buyer.post(
            "/v1/tickets",
            json={
                **application(order_id, *LINES, reason_code="wrong_size_or_model"),
                "lines": _lines("damaged_in_transit", None),
                "destination": "balance",
            },
        )
    assert created.status_code == 201, created.text
    ticket_no = created.json()["ticket_no"]
    await stack.ticket_when(label, ticket_no, "awaiting_merchant_review")
    async with stack.client("merchant:m-1001") as shop:
        approved = await shop.post(f"/v1/tickets/{ticket_no}/approve", json={"service_fee": 500})
    assert approved.status_code == 200, approved.text
    done = await stack.ticket_when(label, ticket_no, "completed")
    [refund] = done["refunds"]
    # Both items and the shipping (the mug broke in the parcel), less the fee on the shirt.
    assert refund["amount"] == 4000 + 2500 + 800 - 500
    assert done["breakdown"]["shipping_amount"] == 800 and done["service_fee"] == 500
