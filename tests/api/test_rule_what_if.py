"""The what-if on the real stack: tickets really run under a merchant's rules, then re-decided by
a what-if under the same rules (the prediction equals what happened, ticket by ticket) and under
other rules (the differences, in totals and per ticket); the tickets themselves never change."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, update

from domain.rules import Outcome, Rule
from persistence.models import Ticket, TimelineEntry
from persistence.rules import save_rules
from tests.support.orders import application, buyer_id, line, new_order_id, order_body, put_order
from tests.support.shops import new_shop
from tests.support.stack import Stack

COMPARED = (
    "rule_id",
    "auto_approved",
    "reviewed",
    "kept_item",
    "store_credit",
    "bonus",
    "refunded",
)
RULES = [
    Rule(
        id="clearance",
        when="'clearance' in tags && quoted_amount <= 3000",
        then=Outcome(approve=True, keep_item=True, store_credit_bonus_percent=10),
    ),
    Rule(id="card-review", when="payment_method == 'card'", then=Outcome(manual_review=True)),
    Rule(
        id="fee",
        when="fault == 'buyer' && quoted_amount > 3000",
        then=Outcome(approve=True, service_fee_percent=10),
    ),
]


@pytest.fixture
async def merchant(stack: Stack) -> str:
    merchant_id = await new_shop(stack, "What-if test shop")
    async with stack.sessions() as session:
        await save_rules(session, merchant_id, RULES, "support:s-1")
        await session.commit()
    return merchant_id


async def open_ticket(
    stack: Stack,
    merchant: str,
    *,
    price: int = 1500,
    tags: tuple[str, ...] = (),
    method: str = "wallet",
    status: str = "delivered",
    **application_fields: Any,
) -> tuple[str, str]:
    """A ticket on a fresh order of 2 units at `price` for a buyer with no history."""
    label = await stack.new_buyer()
    order_id = new_order_id()
    extra: dict[str, Any] = {"status": status, "method": method}
    if status == "delivered":
        extra["delivered_at"] = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    body = order_body(
        [{**line("L1", 2, price), "tags": list(tags)}],
        buyer=buyer_id(label),
        merchant=merchant,
        **extra,
    )
    async with stack.client("platform:shop") as platform:
        await put_order(platform, order_id, body)
    fields = {"type": "return_refund", **application_fields}
    async with stack.client(label) as buyer:
        created = await buyer.post("/v1/tickets", json=application(order_id, ("L1", 2), **fields))
    assert created.status_code == 201, created.text
    return label, str(created.json()["ticket_no"])


async def what_if(stack: Stack, merchant: str, since: datetime, **body: Any) -> dict[str, Any]:
    """Start a what-if over the tickets opened since `since` and read it until completed."""
    async with stack.client(f"merchant:{merchant}") as shop:
        started = await shop.post(
            f"/v1/merchants/{merchant}/rules/what-if",
            json={"period_from": since.isoformat(), **body},
        )
        assert started.status_code == 202, started.text
        run = started.json()
        async with asyncio.timeout(60):
            while run["status"] != "completed":
                await asyncio.sleep(0.2)
                response = await shop.get(
                    f"/v1/merchants/{merchant}/rules/what-if/{run['run_id']}?limit=200"
                )
                assert response.status_code == 200, response.text
                run = response.json()
    return run


async def test_a_what_if_under_the_rules_in_force_predicts_what_happened(
    stack: Stack, merchant: str
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    opened = {
        "kept to balance": await open_ticket(
            stack, merchant, tags=("clearance",), destination="balance"
        ),
        "kept to the payment": await open_ticket(stack, merchant, tags=("clearance",)),
        "card, to review": await open_ticket(stack, merchant, method="card"),
        "fee, ships back": await open_ticket(stack, merchant, price=2500),
        "merchant fault, to review": await open_ticket(
            stack, merchant, price=2500, reason_code="quality_issue"
        ),
        "before shipment": await open_ticket(stack, merchant, status="paid", type="refund_only"),
    }
    settled = {
        "kept to balance": "completed",
        "kept to the payment": "completed",
        "card, to review": "awaiting_merchant_review",
        "fee, ships back": "awaiting_buyer_return",
        "merchant fault, to review": "awaiting_merchant_review",
        "before shipment": "completed",
    }
    for name, (label, ticket_no) in opened.items():
        await stack.ticket_when(label, ticket_no, settled[name])

    run = await what_if(stack, merchant, since)

    assert (run["total"], run["done"]) == (6, 6)
    by_ticket = {item["ticket_no"]: item for item in run["items"]}
    for name, (_, ticket_no) in opened.items():
        item = by_ticket[ticket_no]
        predicted = {key: item["predicted"][key] for key in COMPARED}
        happened = {key: item["happened"][key] for key in COMPARED}
        assert predicted == happened, (name, item["words"])
        assert item["changed"] is False and item["re_decided"] is True, name
    kept = by_ticket[opened["kept to balance"][1]]
    assert kept["happened"]["bonus"] == 300 and kept["happened"]["refunded"] == 3000
    assert by_ticket[opened["fee, ships back"][1]]["predicted"]["rule_id"] == "fee"
    totals = run["totals"]
    assert totals["changed"] == 0
    assert totals["predicted"] == totals["happened"]
    assert totals["happened"]["auto_approved"] == 4  # kept twice, the fee, before shipment
    assert totals["happened"]["bonus"] == {"CNY": 300}


async def test_a_what_if_under_other_rules_shows_what_would_change_and_changes_nothing(
    stack: Stack, merchant: str
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    card_label, card = await open_ticket(stack, merchant, method="card", destination="balance")
    plain_label, plain = await open_ticket(stack, merchant, price=2500, reason_code="quality_issue")
    await stack.ticket_when(card_label, card, "awaiting_merchant_review")
    await stack.ticket_when(plain_label, plain, "awaiting_merchant_review")
    proposed = [
        {
            "id": "keep-all",
            "when": "quoted_amount <= 5000",
            "then": {"approve": True, "keep_item": True, "store_credit_bonus_percent": 5},
        }
    ]

    run = await what_if(stack, merchant, since, rules=proposed)

    by_ticket = {item["ticket_no"]: item for item in run["items"]}
    assert {by_ticket[card]["changed"], by_ticket[plain]["changed"]} == {True}
    card_item = by_ticket[card]
    assert card_item["happened"]["reviewed"] is True and card_item["happened"]["refunded"] == 0
    assert card_item["predicted"] == {
        **card_item["predicted"],
        "rule_id": "keep-all",
        "auto_approved": True,
        "kept_item": True,
        "store_credit": True,
        "bonus": 150,  # 5 % of 30.00
        "refunded": 3000,
        "release": "on_approval",
    }
    assert by_ticket[plain]["predicted"]["bonus"] == 0  # refunded to the payment, no credit
    totals = run["totals"]
    assert (totals["predicted"]["auto_approved"], totals["happened"]["auto_approved"]) == (2, 0)
    assert totals["predicted"]["refunded"] == {"CNY": 8000}
    assert totals["predicted"]["kept_items"] == 2 and totals["changed"] == 2
    # The real tickets are where they were.
    for label, ticket_no in ((card_label, card), (plain_label, plain)):
        async with stack.client(label) as buyer:
            ticket = (await buyer.get(f"/v1/tickets/{ticket_no}")).json()
        assert ticket["status"] == "awaiting_merchant_review" and ticket["refunds"] == []
    # Only the tickets the rules would change, page by page.
    async with stack.client(f"merchant:{merchant}") as shop:
        first = (
            await shop.get(
                f"/v1/merchants/{merchant}/rules/what-if/{run['run_id']}?changed_only=true&limit=1"
            )
        ).json()
        rest = (
            await shop.get(
                f"/v1/merchants/{merchant}/rules/what-if/{run['run_id']}"
                f"?changed_only=true&limit=1&cursor={first['next_cursor']}"
            )
        ).json()
        foreign = await shop.get(f"/v1/merchants/m-1001/rules/what-if/{run['run_id']}")
    assert [i["ticket_no"] for i in first["items"] + rest["items"]] == [card, plain]
    assert rest["next_cursor"] is None
    assert foreign.status_code == 404


async def test_a_what_if_refuses_bad_rules_and_periods(stack: Stack, merchant: str) -> None:
    now = datetime.now(UTC)
    async with stack.client(f"merchant:{merchant}") as shop:
        bad_rule = await shop.post(
            f"/v1/merchants/{merchant}/rules/what-if",
            json={
                "period_from": (now - timedelta(days=1)).isoformat(),
                "rules": [{"id": "x", "when": "colour == 'red'", "then": {"approve": True}}],
            },
        )
        backwards = await shop.post(
            f"/v1/merchants/{merchant}/rules/what-if",
            json={"period_from": (now + timedelta(days=1)).isoformat()},
        )
        too_long = await shop.post(
            f"/v1/merchants/{merchant}/rules/what-if",
            json={"period_from": (now - timedelta(days=400)).isoformat()},
        )
    assert (bad_rule.status_code, bad_rule.json()["code"]) == (422, "rule_invalid")
    assert bad_rule.json()["errors"][0]["column"] == 1
    assert (backwards.status_code, backwards.json()["code"]) == (422, "period_invalid")
    assert (too_long.status_code, too_long.json()["code"]) == (422, "period_too_long")


async def test_a_what_if_sent_again_under_its_key_is_the_same_run(
    stack: Stack, merchant: str
) -> None:
    since = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    url = f"/v1/merchants/{merchant}/rules/what-if"
    async with stack.client(f"merchant:{merchant}") as shop:
        first = await shop.post(url, json={"period_from": since}, headers={"Idempotency-Key": "w1"})
        again = await shop.post(url, json={"period_from": since}, headers={"Idempotency-Key": "w1"})
        other = await shop.post(
            url,
            json={"period_from": since, "rules": []},
            headers={"Idempotency-Key": "w1"},
        )
        fresh = await shop.post(url, json={"period_from": since}, headers={"Idempotency-Key": "w2"})
    assert first.status_code == again.status_code == fresh.status_code == 202, first.text
    assert again.json()["run_id"] == first.json()["run_id"] != fresh.json()["run_id"]
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")


async def test_a_ticket_from_before_tickets_kept_their_facts_is_re_decided_from_its_order(
    stack: Stack, merchant: str
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    label, ticket_no = await open_ticket(stack, merchant, method="card")
    await stack.ticket_when(label, ticket_no, "awaiting_merchant_review")
    async with stack.sessions.begin() as session:
        # As a ticket opened before the engine had rules: no facts, no rule decision.
        await session.execute(
            update(Ticket).where(Ticket.ticket_no == ticket_no).values(facts=None)
        )
        await session.execute(
            delete(TimelineEntry).where(
                TimelineEntry.ticket_no == ticket_no, TimelineEntry.event == "rule_decided"
            )
        )

    run = await what_if(stack, merchant, since)

    [item] = run["items"]
    assert item["re_decided"] is True
    assert item["words"].startswith("facts rebuilt from the ticket and its order")
    assert item["predicted"]["rule_id"] == "card-review"  # its order was paid by card
    assert item["happened"]["rule_id"] is None
