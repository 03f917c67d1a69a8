"""Tickets driven through the API to the state an action needs, each with a fresh buyer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.support.orders import application, line, new_order_id, order_body, put_order
from tests.support.stack import Stack

MERCHANT = "merchant:m-1001"
WAREHOUSE = "warehouse:wh-1001"
SUPPORT = "support:s-1"

# Two lines, so that an inspection has something to get wrong: L1 x2 and L2 x1.
LINES = [line("L1", 2, 1500), line("L2", 1, 800)]
ASKED = (("L1", 2), ("L2", 1))
QUOTED = 2 * 1500 + 800
ALL_ACCEPTED = [
    {"line_id": "L1", "accepted": 2, "rejected": 0},
    {"line_id": "L2", "accepted": 1, "rejected": 0},
]
ONE_REJECTED = [
    {"line_id": "L1", "accepted": 1, "rejected": 1},
    {"line_id": "L2", "accepted": 1, "rejected": 0},
]
PARCEL = {"carrier": "SF", "tracking_no": "SF-10001"}


@dataclass(frozen=True)
class Opened:
    ticket_no: str
    order_id: str
    buyer: str  # the client label of the ticket's buyer


def recently() -> str:
    return (datetime.now(UTC) - timedelta(days=1)).isoformat()


async def act(
    stack: Stack,
    label: str,
    ticket_no: str,
    action: str,
    body: dict[str, Any] | None = None,
    key: str | None = None,
) -> httpx.Response:
    """`POST /v1/tickets/{no}/{action}` as `label`, optionally under an Idempotency-Key."""
    headers = {"Idempotency-Key": key} if key else {}
    async with stack.client(label) as http:
        return await http.post(f"/v1/tickets/{ticket_no}/{action}", json=body, headers=headers)


async def read(stack: Stack, label: str, ticket_no: str) -> httpx.Response:
    async with stack.client(label) as http:
        return await http.get(f"/v1/tickets/{ticket_no}")


async def labelled(stack: Stack, label: str, ticket_no: str) -> dict[str, Any]:
    """The ticket once its timeline tells of the return label the approval asked the courier
    for (issued or not), within 30 s."""
    async with asyncio.timeout(30):
        while True:
            ticket: dict[str, Any] = (await read(stack, label, ticket_no)).json()
            told = {step["event"] for step in ticket["timeline"]}
            if told & {"return_label_issued", "return_label_failed"}:
                return ticket
            await asyncio.sleep(0.2)


async def open_for_review(
    stack: Stack,
    *,
    type: str = "return_refund",
    reason_code: str = "no_longer_needed",
    merchant: str = "m-1001",
) -> Opened:
    """A fresh buyer's ticket on a recently delivered order of `merchant`, awaiting its review."""
    buyer = await stack.new_buyer()
    order_id = new_order_id()
    order = order_body(
        LINES,
        buyer=buyer.split(":")[1],
        merchant=merchant,
        status="delivered",
        delivered_at=recently(),
    )
    async with stack.client("platform:shop") as platform, stack.client(buyer) as http:
        await put_order(platform, order_id, order)
        created = await http.post(
            "/v1/tickets",
            json=application(order_id, *ASKED, reason_code=reason_code, type=type),
        )
    assert created.status_code == 201, created.text
    opened = Opened(created.json()["ticket_no"], order_id, buyer)
    await stack.ticket_when(buyer, opened.ticket_no, "awaiting_merchant_review")
    return opened


async def large_refund(stack: Stack) -> Opened:
    """A CNY 6,000.00 refund on an unshipped order: waits for a second approver."""
    buyer = await stack.new_buyer()
    order_id = new_order_id()
    order = order_body([line("L1", 1, 600000)], buyer=buyer.split(":")[1])
    async with stack.client("platform:shop") as platform, stack.client(buyer) as http:
        await put_order(platform, order_id, order)
        created = await http.post("/v1/tickets", json=application(order_id, ("L1", 1)))
    assert created.status_code == 201, created.text
    opened = Opened(created.json()["ticket_no"], order_id, buyer)
    await stack.ticket_when(buyer, opened.ticket_no, "awaiting_second_approval")
    return opened


# state -> (the state before it, who acts, the action, its body); "buyer" is the ticket's buyer.
_PATH: dict[str, tuple[str, str, str, dict[str, Any]]] = {
    "rejected": ("awaiting_merchant_review", MERCHANT, "reject", {"reason_code": "used"}),
    "under_arbitration": ("awaiting_merchant_review", MERCHANT, "escalate", {"reason": "odd"}),
    "awaiting_buyer_return": ("awaiting_merchant_review", MERCHANT, "approve", {}),
    "return_in_transit": ("awaiting_buyer_return", "buyer", "return-shipment", PARCEL),
    "inspection_failed": ("return_in_transit", WAREHOUSE, "inspection", {"lines": ONE_REJECTED}),
    "awaiting_reship": ("return_in_transit", WAREHOUSE, "inspection", {"lines": ALL_ACCEPTED}),
    "replacement_in_transit": ("awaiting_reship", MERCHANT, "reship", PARCEL),
}


async def to_state(
    stack: Stack, state: str, *, type: str = "return_refund", reason_code: str = "no_longer_needed"
) -> Opened:
    """A new ticket brought to `state` through the API, as its actors would."""
    if state == "awaiting_second_approval":
        return await large_refund(stack)
    if state == "awaiting_merchant_review":
        return await open_for_review(stack, type=type, reason_code=reason_code)
    before, label, action, body = _PATH[state]
    opened = await to_state(stack, before, type=type, reason_code=reason_code)
    actor = opened.buyer if label == "buyer" else label
    response = await act(stack, actor, opened.ticket_no, action, body)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == state, response.json()["timeline"][-1]
    return opened
