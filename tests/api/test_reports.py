"""GET /v1/reports/summary on the real stack: a merchant sees its own shop, support every shop."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.auth import Role, issue_key
from persistence.models import Merchant
from tests.support.orders import application, line, new_order_id, order_body, put_order
from tests.support.stack import Stack
from tests.support.tickets import recently

SUPPORT = "support:s-1"
URL = "/v1/reports/summary"


async def _new_merchant(stack: Stack) -> str:
    """A shop with no tickets yet, as a client label."""
    merchant_id = f"m-rep-{uuid.uuid4().hex[:8]}"
    async with stack.sessions.begin() as session:
        session.add(Merchant(merchant_id=merchant_id, name=f"Shop {merchant_id}"))
        await session.flush()
        key = await issue_key(session, Role.merchant, merchant_id, f"test shop {merchant_id}")
    label = f"merchant:{merchant_id}"
    stack.keys[label] = key
    return label


async def _open(stack: Stack, merchant_id: str, status: str, type: str) -> tuple[str, str]:
    """A fresh buyer's ticket on an order of `merchant_id`: (ticket number, buyer label)."""
    buyer = await stack.new_buyer()
    order_id = new_order_id("REP")
    order = order_body(
        [line("L1", 1, 4_250)],
        buyer=buyer.split(":")[1],
        merchant=merchant_id,
        status=status,
        delivered_at=recently() if status == "delivered" else None,
    )
    async with stack.client("platform:shop") as platform, stack.client(buyer) as http:
        await put_order(platform, order_id, order)
        created = await http.post("/v1/tickets", json=application(order_id, ("L1", 1), type=type))
    assert created.status_code == 201, created.text
    return created.json()["ticket_no"], buyer


@pytest.fixture
async def shop(stack: Stack) -> str:
    """A fresh shop with two tickets: a refund before shipment, paid out at once by rule, and a
    return its merchant rejected."""
    label = await _new_merchant(stack)
    merchant_id = label.split(":")[1]
    paid, buyer = await _open(stack, merchant_id, "paid", "refund_only")
    await stack.ticket_when(buyer, paid, "completed")
    returned, buyer = await _open(stack, merchant_id, "delivered", "return_refund")
    await stack.ticket_when(buyer, returned, "awaiting_merchant_review")
    async with stack.client(label) as merchant:
        rejected = await merchant.post(
            f"/v1/tickets/{returned}/reject", json={"reason_code": "used", "note": "worn"}
        )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    return label


async def _get(stack: Stack, label: str | None, **params: str) -> Any:
    async with stack.client(label) as http:
        return await http.get(URL, params=params)


def _check_shop_figures(report: dict[str, Any], merchant_id: str) -> None:
    assert report["scope"]["merchant_id"] == merchant_id
    assert report["tickets"] == 2
    assert report["by_type"] == {"refund_only": 1, "return_refund": 1, "exchange": 0}
    assert {k: v for k, v in report["by_status"].items() if v} == {"completed": 1, "rejected": 1}
    assert {k: v for k, v in report["by_reason"].items() if v} == {"no_longer_needed": 2}
    assert report["approval"] == {"approved": 1, "decided": 2, "rate": 0.5}
    assert report["resolution"]["resolved"] == 1
    assert 0 < report["resolution"]["median_seconds"] < 120
    assert report["refunded"] == [{"currency": "CNY", "amount": 4_250}]
    assert report["auto_approvals"] == 1
    assert sum(report["timeouts"].values()) == 0
    assert report["escalations"] == 0


async def test_a_merchant_sees_its_own_shop_only(stack: Stack, shop: str) -> None:
    merchant_id = shop.split(":")[1]
    # Another shop has a ticket too, which must stay out of this shop's figures.
    await _open(stack, "m-1001", "paid", "refund_only")

    own = await _get(stack, shop)
    every = await _get(stack, SUPPORT)
    someone_else = await _get(stack, shop, merchant_id="m-1001")
    seeded_shop = await _get(stack, "merchant:m-1001")

    assert own.status_code == 200, own.text
    _check_shop_figures(own.json(), merchant_id)
    assert someone_else.status_code == 403
    assert someone_else.json()["code"] == "forbidden_merchant"
    assert seeded_shop.status_code == 200
    assert seeded_shop.json()["scope"]["merchant_id"] == "m-1001"
    assert seeded_shop.json()["tickets"] >= 1
    assert every.json()["tickets"] >= own.json()["tickets"] + seeded_shop.json()["tickets"]


async def test_support_sees_every_shop_and_filters_by_one(stack: Stack, shop: str) -> None:
    merchant_id = shop.split(":")[1]

    one = await _get(stack, SUPPORT, merchant_id=merchant_id)
    every = await _get(stack, SUPPORT)

    assert one.status_code == 200, one.text
    _check_shop_figures(one.json(), merchant_id)
    assert every.status_code == 200
    everything = every.json()
    assert everything["scope"]["merchant_id"] is None
    assert everything["tickets"] >= 2
    assert everything["approval"]["decided"] >= 2
    cny = {r["currency"]: r["amount"] for r in everything["refunded"]}["CNY"]
    assert cny >= 4_250


async def test_the_period_filters_by_opening_time(stack: Stack, shop: str) -> None:
    now = datetime.now(UTC)
    before = (now - timedelta(days=1)).isoformat()
    after = (now + timedelta(minutes=5)).isoformat()

    inside = await _get(stack, shop, created_from=before, created_to=after)
    earlier = await _get(stack, shop, created_to=before)
    naive = await _get(
        stack, shop, created_from=(now - timedelta(days=1)).replace(tzinfo=None).isoformat()
    )

    assert inside.status_code == 200, inside.text
    assert inside.json()["tickets"] == 2
    assert datetime.fromisoformat(inside.json()["scope"]["created_to"]) == datetime.fromisoformat(
        after
    )
    assert earlier.json()["tickets"] == 0
    assert earlier.json()["refunded"] == []
    assert earlier.json()["approval"]["rate"] is None
    assert earlier.json()["resolution"]["median_seconds"] is None
    assert naive.json()["tickets"] == 2
    assert (
        naive.json()["scope"]["created_from"].endswith("Z")
        or "+00:00" in (naive.json()["scope"]["created_from"])
    )


async def test_other_roles_and_bad_periods_are_refused(stack: Stack) -> None:
    buyer = await stack.new_buyer()

    as_buyer = await _get(stack, buyer)
    as_warehouse = await _get(stack, "warehouse:wh-1001")
    anonymous = await _get(stack, None)
    bad_date = await _get(stack, SUPPORT, created_from="yesterday")
    backwards = await _get(
        stack, SUPPORT, created_from="2026-02-01T00:00:00Z", created_to="2026-01-01T00:00:00Z"
    )

    assert as_buyer.status_code == 403 and as_buyer.json()["code"] == "forbidden_role"
    assert as_warehouse.status_code == 403
    assert anonymous.status_code == 401
    assert bad_date.status_code == 422
    assert bad_date.headers["content-type"] == "application/problem+json"
    assert bad_date.json()["code"] == "validation_error"
    assert bad_date.json()["errors"][0]["field"] == "created_from"
    assert backwards.status_code == 422
    assert backwards.json()["code"] == "invalid_period"
