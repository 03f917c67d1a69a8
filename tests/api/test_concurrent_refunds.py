"""Tickets of one order opened at the same moment: their refunds add up to exactly what was paid."""

from __future__ import annotations

import asyncio

from tests.support.orders import application, buyer_id, line, order_body, put_order
from tests.support.stack import Stack


async def test_concurrent_tickets_on_every_line_refund_exactly_what_was_paid(
    stack: Stack,
) -> None:
    label = await stack.new_buyer()
    # Prices and discounts that do not split evenly, plus shipping that only the ticket
    # completing the order gets back.
    lines = [line(f"L{i}", 3, 1999 + i * 7, 13 * i) for i in range(5)]
    body = order_body(lines, buyer=buyer_id(label), shipping=1234)
    order_id = f"C-{label[-8:].upper()}"
    async with stack.client("platform:shop") as platform:
        await put_order(platform, order_id, body)

    async def open_one(line_id: str, quantity: int) -> str:
        async with stack.client(label) as buyer:
            created = await buyer.post(
                "/v1/tickets", json=application(order_id, (line_id, quantity))
            )
        assert created.status_code == 201, created.text
        return str(created.json()["ticket_no"])

    # Every line in its own ticket, all five racing to be granted at the same moment (more
    # refunds than that would make this buyer high-risk and stop the automatic approval).
    opened = await asyncio.gather(*(open_one(f"L{i}", 3) for i in range(5)))
    done = await asyncio.gather(
        *(stack.ticket_when(label, no, "completed", "closed") for no in opened)
    )
    async with stack.client(label) as buyer:
        order = (await buyer.get(f"/v1/orders/{order_id}")).json()

    paid = body["payment"]["paid_total"]
    refunded = [t["refunded_amount"] for t in done]
    assert all(amount >= 0 for amount in refunded)
    assert sum(refunded) == paid
    assert order["refunded_total"] == paid
    assert order["after_sales_status"] == "refunded" and order["closed"] is True
    # Shipping went back exactly once, with the ticket that completed the order.
    shipping = [
        r["amount"]
        for t in done
        for r in t["refunds"]
        if "includes shipping" in " ".join(step["reason"] for step in t["timeline"])
    ]
    assert len(shipping) == 1
