"""A merchant's rules through the API: read, replaced as versions, refused when a condition cannot
run, tried on facts or on a stored ticket without changing anything, frozen into new tickets."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, update

from domain.rules import FACTS
from persistence.models import Ticket, TimelineEntry
from tests.support.orders import application, buyer_id, line, new_order_id, order_body, put_order
from tests.support.rule_facts import sent_facts
from tests.support.shops import new_shop
from tests.support.stack import Stack

SUPPORT = "support:s-1"
FOREIGN_SHOP = "merchant:m-1001"

# On a refund-only ticket of 1 x 1500 for no_longer_needed: `big` does not fire, `odd` cannot be
# evaluated (the ticket has one line), `mind` fires.
RULES: list[dict[str, Any]] = [
    {
        "id": "big",
        "name": "Large refunds",
        "when": "quoted_amount > 100000",
        "then": {"manual_review": True},
    },
    {"id": "odd", "when": "lines[3].amount > 0", "then": {"approve": True}},
    {
        "id": "mind",
        "name": "Changed their mind",
        "when": "reason == 'no_longer_needed' &&\n  quoted_amount <= 5000",
        "then": {"service_fee_percent": 10, "refund_release": "on_first_scan"},
    },
]


@pytest.fixture
async def merchant(stack: Stack) -> str:
    return await new_shop(stack, "Rules test shop")


def facts(**changed: Any) -> dict[str, Any]:
    """The facts of a refund-only ticket on one line of 1500, as a dry run sends them."""
    return sent_facts(
        type="refund_only",
        order_age_days=2,
        shipped=False,
        delivered=False,
        days_since_delivery=-1,
        payment_method="wallet",
        **changed,
    )


async def open_ticket(stack: Stack, merchant: str) -> tuple[str, str]:
    """A ticket on one of two units of a 1500 line tagged `clearance`: (buyer label, ticket no)."""
    label = await stack.new_buyer()
    order_id = new_order_id()
    tagged = {**line("L1", 2, 1500), "tags": ["clearance"]}
    async with stack.client("platform:shop") as platform:
        await put_order(
            platform, order_id, order_body([tagged], merchant=merchant, buyer=buyer_id(label))
        )
    async with stack.client(label) as buyer:
        created = await buyer.post("/v1/tickets", json=application(order_id, ("L1", 1)))
    assert created.status_code == 201, created.text
    return label, str(created.json()["ticket_no"])


async def risk_assessed(stack: Stack, label: str, ticket_no: str) -> None:
    """Wait (at most 30 s) until the workflow wrote the buyer's risk on the ticket."""
    risk: dict[str, Any] = {}
    async with stack.client(label) as http, asyncio.timeout(30):
        while risk.get("level") is None:
            await asyncio.sleep(0.1)
            risk = (await http.get(f"/v1/tickets/{ticket_no}")).json()["risk"]


async def test_a_merchant_that_never_set_rules_has_none_and_learns_what_rules_may_read(
    stack: Stack, merchant: str
) -> None:
    async with stack.client(f"merchant:{merchant}") as shop:
        answer = await shop.get(f"/v1/merchants/{merchant}/rules")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "merchant_id": merchant,
        "version": None,
        "revision": 0,
        "rules": [],
        "updated_by": None,
        "updated_at": None,
        "facts": dict(FACTS),
    }


async def test_each_replacement_of_the_rules_is_a_new_version(stack: Stack, merchant: str) -> None:
    url = f"/v1/merchants/{merchant}/rules"
    async with stack.client(f"merchant:{merchant}") as shop:
        first = await shop.put(url, json={"rules": RULES})
        after_first = await shop.get(url)
    async with stack.client(SUPPORT) as support:
        second = await support.put(url, json={"rules": []})
        after_second = await support.get(url)

    assert first.status_code == 200, first.text
    assert first.json() == after_first.json()
    stored = after_first.json()
    assert (stored["version"], stored["revision"]) == (f"{merchant}-rules-v1", 1)
    assert stored["updated_by"] == f"merchant:{merchant}" and stored["updated_at"]
    assert [rule["id"] for rule in stored["rules"]] == ["big", "odd", "mind"]
    mind = stored["rules"][2]
    assert mind["when"] == RULES[2]["when"] and mind["name"] == "Changed their mind"
    assert mind["then"]["service_fee_percent"] == 10
    assert mind["then"]["refund_release"] == "on_first_scan"
    assert mind["then"]["approve"] is False

    assert second.status_code == 200, second.text
    assert second.json() == after_second.json()
    switched_off = after_second.json()
    assert (switched_off["version"], switched_off["revision"]) == (f"{merchant}-rules-v2", 2)
    assert switched_off["rules"] == [] and switched_off["updated_by"] == SUPPORT


async def test_a_condition_that_cannot_run_is_refused_with_its_line_and_column(
    stack: Stack, merchant: str
) -> None:
    url = f"/v1/merchants/{merchant}/rules"
    broken = [
        RULES[0],
        {
            "id": "cut",
            "when": "reason == 'damaged_in_transit'\n  && quoted_amount >",
            "then": {"approve": True},
        },
        {"id": "who", "when": "quoted_amount > 100 && buyer_age < 3", "then": {"keep_item": True}},
    ]
    async with stack.client(f"merchant:{merchant}") as shop:
        refused = await shop.put(url, json={"rules": broken})
        tried = await shop.post(f"{url}/test", json={"rules": broken, "facts": facts()})
        twice = await shop.put(url, json={"rules": [RULES[0], RULES[0]]})
        unchanged = (await shop.get(url)).json()

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["code"] == "rule_invalid"
    assert problem["detail"].startswith("rule cut: the condition does not compile")
    where = [
        (e["field"], e["rule_id"], e["index"], e["code"], e["line"], e["column"])
        for e in problem["errors"]
    ]
    assert where == [
        ("rules[1].when", "cut", 1, "rule_syntax", 2, 21),
        ("rules[2].when", "who", 2, "rule_unknown_fact", 1, 24),
    ]
    assert "buyer_age is not a fact" in problem["errors"][1]["message"]
    assert tried.status_code == 422 and tried.json()["errors"] == problem["errors"]
    # Shape errors are the ordinary validation refusal.
    assert twice.status_code == 422 and twice.json()["code"] == "validation_error"
    assert "rule id big is used twice" in twice.json()["errors"][0]["message"]
    assert unchanged["revision"] == 0 and unchanged["rules"] == []


async def test_only_the_merchant_itself_and_support_see_change_or_try_its_rules(
    stack: Stack, merchant: str
) -> None:
    url = f"/v1/merchants/{merchant}/rules"
    trial = {"rules": RULES, "facts": facts()}
    async with stack.client(FOREIGN_SHOP) as other_shop:
        foreign = {
            "get": await other_shop.get(url),
            "put": await other_shop.put(url, json={"rules": RULES}),
            "test": await other_shop.post(f"{url}/test", json=trial),
        }
    async with stack.client(SUPPORT) as support:
        unknown = await support.get("/v1/merchants/m-no-such-shop/rules")
        by_support = await support.post(f"{url}/test", json=trial)
    async with stack.client(await stack.new_buyer()) as buyer:
        as_buyer = await buyer.get(url)

    seen = {name: (r.status_code, r.json()["code"]) for name, r in foreign.items()}
    assert seen == {name: (404, "merchant_not_found") for name in ("get", "put", "test")}
    assert (unknown.status_code, unknown.json()["code"]) == (404, "merchant_not_found")
    assert (as_buyer.status_code, as_buyer.json()["code"]) == (403, "forbidden_role")
    assert by_support.status_code == 200, by_support.text
    async with stack.client(f"merchant:{merchant}") as shop:
        assert (await shop.get(url)).json()["revision"] == 0


async def test_a_dry_run_on_facts_names_the_rule_that_fires_and_the_facts_it_read(
    stack: Stack, merchant: str
) -> None:
    url = f"/v1/merchants/{merchant}/rules"
    async with stack.client(f"merchant:{merchant}") as shop:
        proposed = await shop.post(f"{url}/test", json={"rules": RULES, "facts": facts()})
        nothing_stored = await shop.post(f"{url}/test", json={"facts": facts()})
        assert (await shop.put(url, json={"rules": RULES[:1]})).status_code == 200
        current = await shop.post(f"{url}/test", json={"facts": facts()})
        large = await shop.post(f"{url}/test", json={"facts": facts(quoted_amount=200000)})
        both = await shop.post(f"{url}/test", json={"facts": facts(), "ticket_no": "R-1"})
        after = (await shop.get(url)).json()

    assert proposed.status_code == 200, proposed.text
    tried = proposed.json()
    assert tried["rules_version"] == "proposed" and tried["fired"] is True
    decision = tried["decision"]
    assert (decision["rule_id"], decision["rule_name"], decision["index"]) == (
        "mind",
        "Changed their mind",
        2,
    )
    assert decision["facts_read"] == {"reason": "no_longer_needed", "quoted_amount": 1500}
    assert decision["outcome"]["service_fee_percent"] == 10
    assert "service fee 10 %" in decision["words"]
    assert [(p["rule_id"], p["code"]) for p in tried["passed_over"]] == [
        ("odd", "rule_not_evaluated")
    ]
    assert tried["words"].startswith(decision["words"]) and "rule odd passed over" in tried["words"]
    assert tried["facts"] == {
        **facts(),
        "refunds_90d": 0,
        "watchlisted": False,
        "risk_level": "low",
        "risk_reasons": [],
    }

    assert (nothing_stored.status_code, nothing_stored.json()["code"]) == (422, "no_rules")
    # Without `rules`, the stored ones are tried: only `big`, which these facts do not meet.
    assert current.status_code == 200, current.text
    assert current.json()["rules_version"] == f"{merchant}-rules-v1"
    assert current.json()["fired"] is False and current.json()["decision"] is None
    assert large.json()["decision"]["rule_id"] == "big"
    assert large.json()["decision"]["facts_read"] == {"quoted_amount": 200000}
    assert (both.status_code, both.json()["code"]) == (422, "validation_error")
    assert after["revision"] == 1


async def test_a_dry_run_on_a_ticket_reads_the_facts_stored_when_it_opened_and_its_risk(
    stack: Stack, merchant: str
) -> None:
    url = f"/v1/merchants/{merchant}/rules/test"
    shop_label = f"merchant:{merchant}"
    rules = [
        {"id": "risky", "when": "risk_level == 'medium'", "then": {"manual_review": True}},
        {
            "id": "sale",
            "when": "'clearance' in tags && quoted_amount == 1500",
            "then": {"keep_item": True},
        },
    ]
    _, ticket_no = await open_ticket(stack, merchant)
    # The workflow assesses the buyer's risk once it opens; a later one is made up here.
    await risk_assessed(stack, shop_label, ticket_no)
    async with stack.client(shop_label) as shop:
        low = await shop.post(url, json={"rules": rules, "ticket_no": ticket_no})
    async with stack.sessions.begin() as session:
        await session.execute(
            update(Ticket)
            .where(Ticket.ticket_no == ticket_no)
            .values(risk_level="medium", risk_reasons=["made up for the test"])
        )
        # The buyer's refunds of 90 days, as a review step records an assessment.
        session.add(
            TimelineEntry(
                ticket_no=ticket_no,
                seq=99,
                at=datetime.now(UTC),
                actor_role="system",
                event="submitted_for_review",
                from_status="submitted",
                to_status="awaiting_merchant_review",
                data={"risk": {"level": "medium", "refunded_tickets": 4}},
            )
        )
    _, elsewhere = await open_ticket(stack, "m-1001")
    async with stack.client(shop_label) as shop:
        medium = await shop.post(url, json={"rules": rules, "ticket_no": ticket_no})
        foreign_ticket = await shop.post(url, json={"rules": rules, "ticket_no": elsewhere})
        unkept: dict[bool, Any] = {}
        # Kept before rules read a fact it lacks, and opened before rules existed at all.
        for kept in ({"type": "refund_only", "reason": "no_longer_needed"}, None):
            async with stack.sessions.begin() as session:
                await session.execute(
                    update(Ticket).where(Ticket.ticket_no == ticket_no).values(facts=kept)
                )
            unkept[kept is None] = await shop.post(
                url, json={"rules": rules, "ticket_no": ticket_no}
            )

    assert low.status_code == 200, low.text
    read = low.json()["facts"]
    assert (read["type"], read["reason"], read["quoted_amount"], read["currency"]) == (
        "refund_only",
        "no_longer_needed",
        1500,
        "CNY",
    )
    assert read["skus"] == ["SKU-L1"] and read["tags"] == ["clearance"]
    assert [(x["line_id"], x["quantity"], x["amount"]) for x in read["lines"]] == [("L1", 1, 1500)]
    assert read["risk_level"] == "low"
    assert low.json()["decision"]["rule_id"] == "sale"
    assert low.json()["decision"]["facts_read"] == {"tags": ["clearance"], "quoted_amount": 1500}

    assert read["refunds_90d"] == 0 and read["watchlisted"] is False
    assert medium.json()["facts"]["risk_level"] == "medium"
    assert medium.json()["facts"]["refunds_90d"] == 4
    assert medium.json()["facts"]["risk_reasons"] == ["made up for the test"]
    assert medium.json()["decision"]["rule_id"] == "risky"

    assert (foreign_ticket.status_code, foreign_ticket.json()["code"]) == (404, "ticket_not_found")
    assert {
        never: (answer.status_code, answer.json()["code"], answer.json()["errors"][0]["field"])
        for never, answer in unkept.items()
    } == {
        False: (422, "facts_unavailable", "ticket_no"),
        True: (422, "facts_unavailable", "ticket_no"),
    }
    assert "before rules existed" in unkept[True].json()["detail"]


async def test_a_ticket_keeps_the_rules_version_it_was_opened_under(
    stack: Stack, merchant: str
) -> None:
    url = f"/v1/merchants/{merchant}/rules"
    _, earlier = await open_ticket(stack, merchant)
    async with stack.client(f"merchant:{merchant}") as shop:
        assert (await shop.put(url, json={"rules": RULES[:1]})).status_code == 200
    _, later = await open_ticket(stack, merchant)
    async with stack.client(f"merchant:{merchant}") as shop:
        assert (await shop.put(url, json={"rules": RULES})).status_code == 200
    async with stack.sessions() as session:
        policies = {
            ticket_no: policy
            for ticket_no, policy in await session.execute(
                select(Ticket.ticket_no, Ticket.policy).where(
                    Ticket.ticket_no.in_([earlier, later])
                )
            )
        }

    # The stored policy is what the ticket's workflow was started with.
    assert policies[earlier].get("rules") is None
    assert policies[later]["rules"]["version"] == f"{merchant}-rules-v1"
    assert [rule["id"] for rule in policies[later]["rules"]["rules"]] == ["big"]
