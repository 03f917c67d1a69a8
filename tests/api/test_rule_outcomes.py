"""Merchant rules on the real stack: a ticket opens under the newest rule set, its workflow decides
by it, and the money follows (keep the item, the store-credit bonus booked exactly); a ticket
already open keeps the version it opened under."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.rules import Outcome, Rule
from persistence.models import Ticket
from persistence.rules import save_rules
from tests.support.orders import application, buyer_id, line, new_order_id, order_body, put_order
from tests.support.shops import new_shop
from tests.support.stack import Stack


@pytest.fixture
async def merchant(stack: Stack) -> str:
    return await new_shop(stack, "Rules test shop")


async def store_rules(stack: Stack, merchant: str, *rules: Rule) -> None:
    async with stack.sessions() as session:
        await save_rules(session, merchant, list(rules), "support:s-1")
        await session.commit()


async def open_return(stack: Stack, merchant: str, label: str, **extra: Any) -> str:
    """A return of 2 x 15.00 CNY (tagged clearance), delivered yesterday."""
    order_id = new_order_id()
    delivered = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    body = order_body(
        [{**line("L1", 2, 1500), "tags": ["clearance"]}],
        buyer=buyer_id(label),
        merchant=merchant,
        status="delivered",
        delivered_at=delivered,
    )
    async with stack.client("platform:shop") as platform:
        await put_order(platform, order_id, body)
    async with stack.client(label) as buyer:
        created = await buyer.post(
            "/v1/tickets",
            json=application(order_id, ("L1", 2), type="return_refund", **extra),
        )
    assert created.status_code == 201, created.text
    return str(created.json()["ticket_no"])


async def test_keep_the_item_with_a_store_credit_bonus_books_both_exactly(
    stack: Stack, merchant: str
) -> None:
    await store_rules(
        stack,
        merchant,
        Rule(
            id="clearance",
            name="clearance goods stay with the buyer",
            when="'clearance' in tags && quoted_amount <= 5000 && fault == 'buyer'",
            then=Outcome(approve=True, keep_item=True, store_credit_bonus_percent=15),
        ),
    )
    label = await stack.new_buyer()
    ticket_no = await open_return(stack, merchant, label, destination="balance")

    done = await stack.ticket_when(label, ticket_no, "completed")
    async with stack.client(label) as buyer:
        credit = (await buyer.get(f"/v1/buyers/{buyer_id(label)}/credit")).json()
    async with stack.client(f"merchant:{merchant}") as shop:
        seen = (await shop.get(f"/v1/tickets/{ticket_no}")).json()

    # 15 % of 30.00 is 4.50, on top of the refund; the refund alone counts against the order.
    assert sorted((e["kind"], e["amount"]) for e in credit["entries"]) == [
        ("refund_bonus", 450),
        ("refund_credit", 3000),
    ]
    assert credit["balances"] == {"CNY": 3450}
    assert done["refunded_amount"] == 3000
    assert done["shipments"] == []
    [refund] = done["refunds"]
    assert refund["destination"] == "balance"
    events = [t["event"] for t in done["timeline"]]
    assert "approved_by_merchant_rule" in events and "awaiting_buyer_return" not in [
        t["to_status"] for t in done["timeline"]
    ]
    # The buyer reads that the merchant's rules approved, not the rules themselves.
    assert "rule_decided" not in events
    assert done["rules"] is None and "rules" not in done["policy"]
    rules = seen["rules"]
    assert rules["version"] == f"{merchant}-rules-v1"
    assert rules["decision"]["rule_id"] == "clearance"
    assert rules["decision"]["facts_read"] == {
        "fault": "buyer",
        "quoted_amount": 3000,
        "tags": ["clearance"],
    }
    assert rules["facts"]["risk_level"] == "low" and rules["facts"]["channel"] == "api"
    decided = next(t for t in seen["timeline"] if t["event"] == "rule_decided")
    assert decided["data"]["rules"]["rules_version"] == f"{merchant}-rules-v1"


async def test_a_rule_change_reaches_new_tickets_only(stack: Stack, merchant: str) -> None:
    await store_rules(
        stack,
        merchant,
        Rule(id="look", when="type == 'return_refund'", then=Outcome(manual_review=True)),
    )
    label = await stack.new_buyer()
    before = await open_return(stack, merchant, label)
    waiting = await stack.ticket_when(label, before, "awaiting_merchant_review")

    await store_rules(
        stack,
        merchant,
        Rule(id="trust", when="type == 'return_refund'", then=Outcome(approve=True)),
    )
    after = await open_return(stack, merchant, await stack.new_buyer())
    async with stack.client(f"merchant:{merchant}") as shop:
        for _ in range(300):
            moved = (await shop.get(f"/v1/tickets/{after}")).json()
            if moved["status"] == "awaiting_buyer_return":
                break
        still = (await shop.get(f"/v1/tickets/{before}")).json()

    assert moved["status"] == "awaiting_buyer_return"
    assert moved["rules"]["version"] == f"{merchant}-rules-v2"
    assert moved["rules"]["decision"]["rule_id"] == "trust"
    assert still["status"] == "awaiting_merchant_review"
    assert still["rules"]["version"] == f"{merchant}-rules-v1"
    assert still["rules"]["decision"]["rule_id"] == "look"
    assert "sends the ticket to manual review" in (waiting["on_timeout"] or "")
    async with stack.sessions() as session:
        row = await session.get(Ticket, before)
        assert row is not None and row.policy["rules"]["version"] == f"{merchant}-rules-v1"


async def test_where_a_ticket_came_from_is_set_by_support_or_the_platform(
    stack: Stack, merchant: str
) -> None:
    label = await stack.new_buyer()
    refused_order = new_order_id()
    async with stack.client("platform:shop") as platform:
        await put_order(
            platform, refused_order, order_body([line("L1", 1, 900)], buyer=buyer_id(label))
        )
    async with stack.client(label) as buyer:
        refused = await buyer.post(
            "/v1/tickets", json=application(refused_order, ("L1", 1), channel="support_chat")
        )
        own = await buyer.post("/v1/tickets", json=application(refused_order, ("L1", 1)))
    assert refused.status_code == 403
    assert refused.json()["code"] == "channel_not_settable"
    assert own.status_code == 201, own.text
    assert own.json()["channel"] == "api"

    support_order = new_order_id()
    async with stack.client("platform:shop") as platform:
        await put_order(
            platform, support_order, order_body([line("L1", 1, 900)], buyer=buyer_id(label))
        )
    async with stack.client("support:s-1") as support:
        opened = await support.post(
            "/v1/tickets", json=application(support_order, ("L1", 1), channel="web")
        )
    assert opened.status_code == 201, opened.text
    assert opened.json()["channel"] == "web"
