"""Which applications open a ticket: every type of SPEC §2, in its window, a few times a line."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from persistence.models import Ticket, TicketLine
from tests.support.orders import (
    application,
    buyer_id,
    line,
    new_order_id,
    order_body,
    put_order,
)
from tests.support.stack import Stack


def days_ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


async def new_order(stack: Stack, body: dict[str, Any]) -> str:
    order_id = new_order_id()
    async with stack.client("platform:shop") as platform:
        await put_order(platform, order_id, body)
    return order_id


def refusal(response: Any) -> tuple[int, str, str | None]:
    body = response.json()
    return response.status_code, body.get("code"), body.get("errors", [{}])[0].get("field")


async def test_returns_and_exchanges_on_shipped_or_delivered_orders_are_opened(
    stack: Stack,
) -> None:
    label = await stack.new_buyer()
    shipped = await new_order(
        stack, order_body([line("L1", 1, 1500)], buyer=buyer_id(label), status="shipped")
    )
    delivered = await new_order(
        stack,
        order_body(
            [line("L1", 1, 1500)],
            buyer=buyer_id(label),
            status="delivered",
            delivered_at=days_ago(1),
        ),
    )
    async with stack.client(label) as buyer:
        ret = await buyer.post(
            "/v1/tickets", json=application(shipped, ("L1", 1), type="return_refund")
        )
        exchange = await buyer.post(
            "/v1/tickets",
            json=application(
                delivered, ("L1", 1), type="exchange", reason_code="wrong_size_or_model"
            ),
        )
        exchange_on_shipped = await buyer.post(
            "/v1/tickets", json=application(shipped, ("L1", 1), type="exchange")
        )

    assert ret.status_code == 201, ret.text
    assert ret.json()["type"] == "return_refund" and ret.json()["order_id"] == shipped
    assert exchange.status_code == 201, exchange.text
    assert exchange.json()["type"] == "exchange"
    assert refusal(exchange_on_shipped) == (422, "type_not_allowed", "type")


async def test_a_no_reason_return_closes_7_days_after_delivery_a_merchant_fault_one_later(
    stack: Stack,
) -> None:
    label = await stack.new_buyer()
    order_id = await new_order(
        stack,
        order_body(
            [line("L1", 1, 1500), line("L2", 1, 2500)],
            buyer=buyer_id(label),
            status="delivered",
            delivered_at=days_ago(8),
        ),
    )
    async with stack.client(label) as buyer:
        late = await buyer.post(
            "/v1/tickets",
            json=application(order_id, ("L1", 1), type="return_refund"),
        )
        late_refund_only = await buyer.post(
            "/v1/tickets", json=application(order_id, ("L2", 1), reason_code="other")
        )
        faulty = await buyer.post(
            "/v1/tickets",
            json=application(
                order_id, ("L1", 1), type="return_refund", reason_code="quality_issue"
            ),
        )

    assert refusal(late) == (422, "outside_return_window", "reason_code")
    assert late.headers["content-type"] == "application/problem+json"
    detail = late.json()["detail"]
    assert "7 days after delivery" in detail and "was delivered on" in detail
    assert refusal(late_refund_only) == (422, "outside_return_window", "reason_code")
    assert faulty.status_code == 201, faulty.text
    assert faulty.json()["reason_code"] == "quality_issue"


async def test_a_merchant_fault_ticket_is_refused_after_15_days(stack: Stack) -> None:
    label = await stack.new_buyer()
    order_id = await new_order(
        stack,
        order_body(
            [line("L1", 1, 1500)],
            buyer=buyer_id(label),
            status="completed",
            delivered_at=days_ago(16),
        ),
    )
    async with stack.client(label) as buyer:
        late = await buyer.post(
            "/v1/tickets",
            json=application(order_id, ("L1", 1), type="exchange", reason_code="wrong_item"),
        )
    assert refusal(late) == (422, "outside_return_window", "reason_code")
    assert "15 days after delivery" in late.json()["detail"]


async def test_support_opens_a_ticket_for_a_buyer_after_the_window(stack: Stack) -> None:
    label = await stack.new_buyer()
    order_id = await new_order(
        stack,
        order_body(
            [line("L1", 1, 1500)],
            buyer=buyer_id(label),
            status="delivered",
            delivered_at=days_ago(30),
        ),
    )
    body = application(order_id, ("L1", 1), type="return_refund")
    async with stack.client(label) as buyer:
        refused = await buyer.post("/v1/tickets", json=body)
    async with stack.client("support:s-1") as support:
        opened = await support.post("/v1/tickets", json=body)

    assert refusal(refused) == (422, "outside_return_window", "reason_code")
    assert opened.status_code == 201, opened.text
    assert opened.json()["buyer_id"] == buyer_id(label)
    async with stack.client(label) as buyer:
        seen = await buyer.get(f"/v1/tickets/{opened.json()['ticket_no']}")
    assert seen.status_code == 200


async def applied_before(
    stack: Stack, buyer: str, order_id: str, line_id: str, *statuses: str
) -> None:
    """Earlier tickets of `buyer` on a line, settled long ago (faster than running them)."""
    async with stack.sessions() as session:
        for status in statuses:
            session.add(
                Ticket(
                    ticket_no=f"TST{uuid.uuid4().hex[:16].upper()}",
                    order_id=order_id,
                    buyer_id=buyer,
                    merchant_id="m-1001",
                    type="refund_only",
                    reason_code="no_longer_needed",
                    currency="CNY",
                    quoted_amount=1500,
                    status=status,
                    policy={},
                    created_by_role="buyer",
                    lines=[TicketLine(order_id=order_id, line_id=line_id, quantity=1)],
                )
            )
        await session.commit()


async def test_a_line_is_applied_for_at_most_3_times_whatever_became_of_the_tickets(
    stack: Stack,
) -> None:
    label = await stack.new_buyer()
    order_id = await new_order(
        stack, order_body([line("L1", 1, 1500), line("L2", 1, 900)], buyer=buyer_id(label))
    )
    await applied_before(stack, buyer_id(label), order_id, "L1", "cancelled", "rejected", "closed")
    await applied_before(stack, buyer_id(label), order_id, "L2", "cancelled", "rejected")
    async with stack.client(label) as buyer:
        fourth = await buyer.post("/v1/tickets", json=application(order_id, ("L2", 1), ("L1", 1)))
        third = await buyer.post("/v1/tickets", json=application(order_id, ("L2", 1)))
    async with stack.client("support:s-1") as support:
        by_support = await support.post("/v1/tickets", json=application(order_id, ("L1", 1)))

    assert refusal(fourth) == (422, "too_many_applications", "lines[1].line_id")
    assert "L1" in fourth.json()["detail"] and "at most 3" in fourth.json()["detail"]
    assert third.status_code == 201, third.text
    assert refusal(by_support) == (422, "too_many_applications", "lines[0].line_id")
