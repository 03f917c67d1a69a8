"""A merchant's stored policy: read and replaced through the API, frozen into each new ticket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter

from tests.support.orders import (
    application,
    buyer_id,
    line,
    new_order_id,
    order_body,
    put_order,
)
from tests.support.shops import new_shop
from tests.support.stack import Stack

SUPPORT = "support:s-1"
durations = TypeAdapter(timedelta)


@pytest.fixture
async def merchant(stack: Stack) -> str:
    return await new_shop(stack, "Policy test shop")


async def new_order(stack: Stack, merchant: str, **options: Any) -> str:
    order_id = new_order_id()
    async with stack.client("platform:shop") as platform:
        await put_order(
            platform, order_id, order_body([line("L1", 2, 1500)], merchant=merchant, **options)
        )
    return order_id


async def open_ticket(stack: Stack, label: str, body: dict[str, Any]) -> dict[str, Any]:
    async with stack.client(label) as buyer:
        created = await buyer.post("/v1/tickets", json=body)
        assert created.status_code == 201, created.text
        seen = await buyer.get(f"/v1/tickets/{created.json()['ticket_no']}")
    assert seen.status_code == 200, seen.text
    return dict(seen.json())


async def test_a_merchant_reads_and_replaces_its_policy_and_each_change_is_a_version(
    stack: Stack, merchant: str
) -> None:
    url = f"/v1/merchants/{merchant}/policy"
    async with stack.client(f"merchant:{merchant}") as shop:
        before = (await shop.get(url)).json()
        first = await shop.put(
            url,
            json={
                "merchant_review": "PT36H",
                "review_reminders": ["PT12H", 3600],
                "no_reason_return_window": "P10D",
                "max_applications_per_line": 5,
                "refund_shipping_on_merchant_fault": False,
                "second_approval_threshold": 0,
            },
        )
        after = (await shop.get(url)).json()
        second = await shop.put(url, json={"buyer_return": 86400})

    assert before["version"].startswith("global-") and before["revision"] == 0
    assert before["overrides"] == {}
    assert durations.validate_python(before["effective"]["merchant_review"]) == timedelta(hours=48)
    assert before["effective"]["max_applications_per_line"] == 3
    assert before["effective"]["second_approval_threshold"] is None

    assert first.status_code == 200, first.text
    assert first.json() == after
    assert after["version"] == f"{merchant}-v1" and after["revision"] == 1
    assert after["updated_by"] == f"merchant:{merchant}"
    effective = after["effective"]
    assert durations.validate_python(effective["merchant_review"]) == timedelta(hours=36)
    assert [durations.validate_python(x) for x in effective["review_reminders"]] == [
        timedelta(hours=12),
        timedelta(hours=1),
    ]
    assert durations.validate_python(effective["no_reason_return_window"]) == timedelta(days=10)
    assert durations.validate_python(effective["merchant_fault_window"]) == timedelta(days=15)
    assert effective["max_applications_per_line"] == 5
    assert effective["refund_shipping_on_merchant_fault"] is False
    assert effective["second_approval_threshold"] == 0
    assert set(after["overrides"]) == {
        "merchant_review",
        "review_reminders",
        "no_reason_return_window",
        "max_applications_per_line",
        "refund_shipping_on_merchant_fault",
        "second_approval_threshold",
    }

    # PUT replaces: what the second body leaves out follows the global policy again.
    assert second.status_code == 200, second.text
    assert second.json()["version"] == f"{merchant}-v2"
    assert set(second.json()["overrides"]) == {"buyer_return"}
    assert durations.validate_python(second.json()["effective"]["buyer_return"]) == timedelta(
        days=1
    )
    assert durations.validate_python(second.json()["effective"]["merchant_review"]) == timedelta(
        hours=48
    )


async def test_only_the_merchant_itself_and_support_see_or_change_its_policy(
    stack: Stack, merchant: str
) -> None:
    url = f"/v1/merchants/{merchant}/policy"
    async with stack.client(SUPPORT) as support:
        by_support = await support.put(url, json={"reship": "PT24H"})
        read_by_support = await support.get(url)
        unknown = await support.get("/v1/merchants/m-no-such-shop/policy")
        unknown_put = await support.put("/v1/merchants/m-no-such-shop/policy", json={})
    async with stack.client("merchant:m-1001") as other_shop:
        foreign = await other_shop.get(url)
        foreign_put = await other_shop.put(url, json={"reship": "PT1H"})
    async with stack.client("buyer:b-501") as buyer:
        as_buyer = await buyer.get(url)
    async with stack.client(None) as anonymous:
        no_key = await anonymous.get(url)

    assert by_support.status_code == 200, by_support.text
    assert by_support.json()["updated_by"] == SUPPORT
    assert read_by_support.json()["version"] == f"{merchant}-v1"
    seen = {
        name: (r.status_code, r.json()["code"])
        for name, r in {
            "unknown": unknown,
            "unknown put": unknown_put,
            "foreign": foreign,
            "foreign put": foreign_put,
            "buyer": as_buyer,
            "no key": no_key,
        }.items()
    }
    assert seen == {
        "unknown": (404, "merchant_not_found"),
        "unknown put": (404, "merchant_not_found"),
        "foreign": (404, "merchant_not_found"),
        "foreign put": (404, "merchant_not_found"),
        "buyer": (403, "forbidden_role"),
        "no key": (401, "unauthenticated"),
    }
    async with stack.client(SUPPORT) as support:
        unchanged = (await support.get(url)).json()
    assert unchanged["version"] == f"{merchant}-v1"
    assert list(unchanged["overrides"]) == ["reship"]
    assert durations.validate_python(unchanged["effective"]["reship"]) == timedelta(hours=24)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"merchant_review": "48h"}, "merchant_review"),
        ({"merchant_review": "PT0S"}, "merchant_review"),
        ({"review_reminders": ["PT2H", "soon"]}, "review_reminders[1]"),
        ({"colour": "blue"}, "colour"),
        ({"max_applications_per_line": 11}, "max_applications_per_line"),
        ({"max_applications_per_line": 0}, "max_applications_per_line"),
        ({"second_approval_threshold": -1}, "second_approval_threshold"),
    ],
)
async def test_a_policy_that_cannot_apply_is_refused_and_nothing_changes(
    stack: Stack, merchant: str, body: dict[str, Any], field: str
) -> None:
    url = f"/v1/merchants/{merchant}/policy"
    async with stack.client(f"merchant:{merchant}") as shop:
        refused = await shop.put(url, json=body)
        after = (await shop.get(url)).json()
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "validation_error"
    assert [e["field"] for e in refused.json()["errors"]] == [field]
    assert after["revision"] == 0 and after["overrides"] == {}


async def test_a_ticket_keeps_the_policy_it_was_opened_under(stack: Stack, merchant: str) -> None:
    label = await stack.new_buyer()
    buyer = buyer_id(label)
    earlier = await open_ticket(
        stack, label, application(await new_order(stack, merchant, buyer=buyer), ("L1", 1))
    )
    async with stack.client(f"merchant:{merchant}") as shop:
        changed = await shop.put(
            f"/v1/merchants/{merchant}/policy",
            json={
                "merchant_review": "PT36H",
                "buyer_return": "P3D",
                "second_approval_threshold": 123456,
            },
        )
    assert changed.status_code == 200, changed.text
    later = await open_ticket(
        stack,
        label,
        application(await new_order(stack, merchant, buyer=buyer, currency="USD"), ("L1", 1)),
    )

    assert earlier["policy"]["version"].startswith("global-")
    assert durations.validate_python(earlier["policy"]["merchant_review"]) == timedelta(hours=48)
    assert durations.validate_python(earlier["policy"]["buyer_return"]) == timedelta(days=7)
    assert earlier["policy"]["second_approval_threshold"] == 500000
    assert later["policy"]["version"] == f"{merchant}-v1"
    assert durations.validate_python(later["policy"]["merchant_review"]) == timedelta(hours=36)
    assert durations.validate_python(later["policy"]["buyer_return"]) == timedelta(days=3)
    assert later["policy"]["second_approval_threshold"] == 123456
    # Everything the merchant did not override is the global value.
    assert durations.validate_python(later["policy"]["confirm_receipt"]) == timedelta(days=10)
    async with stack.client(label) as http:
        again = (await http.get(f"/v1/tickets/{earlier['ticket_no']}")).json()
    assert again["policy"] == earlier["policy"]


async def test_a_merchants_windows_and_limit_decide_who_may_apply(
    stack: Stack, merchant: str
) -> None:
    label = await stack.new_buyer()
    delivered = (datetime.now(UTC) - timedelta(days=8)).isoformat()
    late_order = await new_order(
        stack, merchant, buyer=buyer_id(label), status="delivered", delivered_at=delivered
    )
    body = application(late_order, ("L1", 1), type="return_refund")
    async with stack.client(label) as buyer:
        refused = await buyer.post("/v1/tickets", json=body)
    async with stack.client(f"merchant:{merchant}") as shop:
        changed = await shop.put(
            f"/v1/merchants/{merchant}/policy",
            json={"no_reason_return_window": "P10D", "max_applications_per_line": 1},
        )
    assert changed.status_code == 200, changed.text
    async with stack.client(label) as buyer:
        accepted = await buyer.post("/v1/tickets", json=body)
        paid_order = await new_order(stack, merchant, buyer=buyer_id(label))
        once = await buyer.post("/v1/tickets", json=application(paid_order, ("L1", 1)))
        assert once.status_code == 201, once.text
        await stack.ticket_when(label, once.json()["ticket_no"], "completed")
        # One unit of the line is left, but the line has had its one application.
        twice = await buyer.post("/v1/tickets", json=application(paid_order, ("L1", 1)))

    assert refused.status_code == 422 and refused.json()["code"] == "outside_return_window"
    assert "7 days" in refused.json()["detail"]
    assert accepted.status_code == 201, accepted.text
    assert twice.status_code == 422
    assert twice.json()["code"] == "too_many_applications"
    assert "at most 1 application" in twice.json()["detail"]
