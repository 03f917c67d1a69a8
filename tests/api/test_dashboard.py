"""GET /v1/dashboard on the real stack: a fresh shop's tickets, driven through the API to known
states, reasons and refunds in three currencies, and the figures the dashboard gives of them."""

from __future__ import annotations

import asyncio
import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from api.auth import Role, issue_key
from domain.tickets import TERMINAL_STATUSES
from persistence.models import Merchant, Refund, Ticket, Warehouse
from tests.support.orders import application, line, new_order_id, order_body, put_order
from tests.support.stack import Stack
from tests.support.tickets import ALL_ACCEPTED, ASKED, LINES, recently

SUPPORT = "support:s-1"
URL = "/v1/dashboard"
# The shop's merchant review deadline, so that its waiting ticket is due within 24 h.
REVIEW = timedelta(hours=12)


@dataclass
class Shop:
    """A merchant of its own with a warehouse, and its tickets by what happened to them."""

    merchant: str  # client labels
    warehouse: str
    tickets: dict[str, str] = field(default_factory=dict)  # name -> ticket number

    @property
    def merchant_id(self) -> str:
        return self.merchant.partition(":")[2]


async def new_shop(stack: Stack, review: timedelta | None = None) -> Shop:
    """A merchant of its own with a warehouse; `review` shortens its merchant review deadline."""
    tag = uuid.uuid4().hex[:8]
    merchant_id, warehouse_id = f"m-dash-{tag}", f"wh-dash-{tag}"
    async with stack.sessions.begin() as session:
        session.add(Merchant(merchant_id=merchant_id, name=f"Dashboard shop {tag}"))
        await session.flush()
        session.add(
            Warehouse(
                warehouse_id=warehouse_id,
                merchant_id=merchant_id,
                name="Dashboard returns",
                address="8 Chart Rd",
            )
        )
        for role, subject in ((Role.merchant, merchant_id), (Role.warehouse, warehouse_id)):
            stack.keys[f"{role}:{subject}"] = await issue_key(session, role, subject, "dashboard")
    shop = Shop(f"merchant:{merchant_id}", f"warehouse:{warehouse_id}")
    if review is not None:
        async with stack.client(shop.merchant) as merchant:
            policy = await merchant.put(
                f"/v1/merchants/{merchant_id}/policy",
                json={"merchant_review": int(review.total_seconds()), "review_reminders": []},
            )
        assert policy.status_code == 200, policy.text
    return shop


async def _open(
    stack: Stack,
    shop: Shop,
    lines: list[dict[str, Any]],
    asked: tuple[tuple[str, int], ...],
    *,
    currency: str = "CNY",
    delivered: bool = False,
    **ticket: Any,
) -> tuple[str, str]:
    """A fresh buyer's ticket on a new order of the shop: (ticket number, buyer label)."""
    buyer = await stack.new_buyer()
    order_id = new_order_id("DSH")
    order = order_body(
        lines,
        buyer=buyer.partition(":")[2],
        merchant=shop.merchant_id,
        currency=currency,
        status="delivered" if delivered else "paid",
        delivered_at=recently() if delivered else None,
    )
    async with stack.client("platform:shop") as platform, stack.client(buyer) as http:
        await put_order(platform, order_id, order)
        created = await http.post("/v1/tickets", json=application(order_id, *asked, **ticket))
    assert created.status_code == 201, created.text
    return created.json()["ticket_no"], buyer


async def _ok(response: httpx.Response, status: str) -> None:
    assert response.status_code == 200, response.text
    assert response.json()["status"] == status, response.json()["timeline"][-1]


async def refunded_before_shipment(stack: Stack, shop: Shop, currency: str, price: int) -> str:
    ticket_no, buyer = await _open(
        stack, shop, [line("L1", 1, price)], (("L1", 1),), currency=currency
    )
    await stack.ticket_when(buyer, ticket_no, "completed")
    return ticket_no


async def _returned_and_refunded(stack: Stack, shop: Shop) -> str:
    """Approved, shipped back, inspected at the shop's warehouse, refunded."""
    ticket_no, buyer = await _open(
        stack, shop, LINES, ASKED, delivered=True, type="return_refund", reason_code="quality_issue"
    )
    await stack.ticket_when(buyer, ticket_no, "awaiting_merchant_review")
    warehouse_id = shop.warehouse.partition(":")[2]
    parcel = {"carrier": "SF", "tracking_no": f"SF-D{uuid.uuid4().hex[:10].upper()}"}
    async with (
        stack.client(shop.merchant) as merchant,
        stack.client(buyer) as http,
        stack.client(shop.warehouse) as warehouse,
    ):
        approved = await merchant.post(
            f"/v1/tickets/{ticket_no}/approve", json={"warehouse_id": warehouse_id}
        )
        await _ok(approved, "awaiting_buyer_return")
        await _ok(
            await http.post(f"/v1/tickets/{ticket_no}/return-shipment", json=parcel),
            "return_in_transit",
        )
        inspected = await warehouse.post(
            f"/v1/tickets/{ticket_no}/inspection", json={"lines": ALL_ACCEPTED}
        )
    assert inspected.status_code == 200, inspected.text
    await stack.ticket_when(buyer, ticket_no, "completed")
    return ticket_no


async def _rejected(stack: Stack, shop: Shop) -> str:
    ticket_no, buyer = await _open(stack, shop, LINES, ASKED, delivered=True, type="return_refund")
    await stack.ticket_when(buyer, ticket_no, "awaiting_merchant_review")
    async with stack.client(shop.merchant) as merchant:
        rejected = await merchant.post(
            f"/v1/tickets/{ticket_no}/reject", json={"reason_code": "used", "note": "worn"}
        )
    await _ok(rejected, "rejected")
    return ticket_no


async def waiting_for_review(stack: Stack, shop: Shop) -> str:
    ticket_no, buyer = await _open(
        stack,
        shop,
        [line("L1", 1, 2_000)],
        (("L1", 1),),
        delivered=True,
        reason_code="damaged_in_transit",
    )
    await stack.ticket_when(buyer, ticket_no, "awaiting_merchant_review")
    return ticket_no


async def seed_shop(stack: Stack) -> Shop:
    """A fresh shop with six tickets: three refunds before shipment (CNY 42.50, JPY 3,000 and
    KWD 12.345), a return of CNY 38.00 refunded after inspection, a rejected return, and a
    refund claim waiting for the merchant, whose 12 h review deadline falls in the next 24 h."""
    shop = await new_shop(stack, review=REVIEW)
    names = ("cny", "jpy", "kwd", "returned", "rejected", "waiting")
    numbers = await asyncio.gather(
        refunded_before_shipment(stack, shop, "CNY", 4_250),
        refunded_before_shipment(stack, shop, "JPY", 3_000),
        refunded_before_shipment(stack, shop, "KWD", 12_345),
        _returned_and_refunded(stack, shop),
        _rejected(stack, shop),
        waiting_for_review(stack, shop),
    )
    shop.tickets = dict(zip(names, numbers, strict=True))
    return shop


@pytest.fixture(scope="module")
async def shop(stack: Stack) -> Shop:
    return await seed_shop(stack)


@pytest.fixture(scope="module")
async def other_shop(stack: Stack) -> Shop:
    other = await new_shop(stack)
    other.tickets["cny"] = await refunded_before_shipment(stack, other, "CNY", 999)
    return other


async def _get(stack: Stack, label: str | None, **params: str) -> httpx.Response:
    async with stack.client(label) as http:
        return await http.get(URL, params=params)


def _percentile(values: list[float], fraction: float) -> float:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


async def _expected_times(stack: Stack, shop: Shop) -> dict[str, list[float]]:
    """Seconds from opening to closing of the shop's resolved tickets, by type, as stored."""
    async with stack.sessions() as session:
        rows = await session.execute(
            select(Ticket.type, Ticket.status, Ticket.created_at, Ticket.closed_at).where(
                Ticket.merchant_id == shop.merchant_id
            )
        )
        times: dict[str, list[float]] = {}
        for type_, status, created, closed in rows:
            if status in TERMINAL_STATUSES:
                assert closed is not None, status
                times.setdefault(type_, []).append((closed - created).total_seconds())
    return times


async def _success_days(
    stack: Stack, shop: Shop | None, since: datetime | None = None
) -> dict[str, dict[date, int]]:
    """Per currency and UTC day, what succeeded refunds paid (the shop's, or every shop's since
    `since`), read from their stored history."""
    query = select(Refund)
    if shop is not None:
        query = query.join(Ticket, Ticket.ticket_no == Refund.ticket_no).where(
            Ticket.merchant_id == shop.merchant_id
        )
    async with stack.sessions() as session:
        refunds = (await session.scalars(query)).all()
    days: dict[str, dict[date, int]] = {}
    for refund in refunds:
        if shop is not None:
            assert refund.status == "succeeded", refund.status_history
        elif refund.status != "succeeded":
            continue
        entry = [e for e in refund.status_history if e["status"] == "succeeded"][-1]
        moment = datetime.fromisoformat(entry["at"])
        if since is not None and moment < since:
            continue
        per_day = days.setdefault(refund.currency, {})
        day = moment.astimezone(UTC).date()
        per_day[day] = per_day.get(day, 0) + refund.amount
    return days


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {key: value for key, value in counts.items() if value}


async def _check_shop_figures(stack: Stack, shop: Shop, board: dict[str, Any]) -> None:
    """Every figure of the seeded shop's dashboard, exactly."""
    assert board["period"]["merchant_id"] == shop.merchant_id
    assert board["tickets"]["opened"] == 6
    assert _nonzero(board["tickets"]["by_status"]) == {
        "awaiting_merchant_review": 1,
        "rejected": 1,
        "completed": 4,
    }
    assert "refund_failed" in board["tickets"]["by_status"]  # every status is listed
    assert _nonzero(board["tickets"]["by_reason"]) == {
        "no_longer_needed": 4,
        "quality_issue": 1,
        "damaged_in_transit": 1,
    }
    assert len(board["tickets"]["by_reason"]) == 9
    assert board["approval"] == {"approved": 4, "decided": 5, "rate": 0.8}

    times = await _expected_times(stack, shop)
    assert {k: len(v) for k, v in times.items()} == {"refund_only": 3, "return_refund": 1}
    every = [t for values in times.values() for t in values]
    overall = board["resolution"]["overall"]
    assert overall["type"] is None and overall["resolved"] == 4
    assert overall["median_seconds"] == pytest.approx(_percentile(every, 0.5), abs=1e-5)
    assert overall["p90_seconds"] == pytest.approx(_percentile(every, 0.9), abs=1e-5)
    by_type = {each["type"]: each for each in board["resolution"]["by_type"]}
    assert list(by_type) == ["refund_only", "return_refund", "exchange"]
    for type_, values in times.items():
        assert by_type[type_]["resolved"] == len(values)
        assert by_type[type_]["median_seconds"] == pytest.approx(_percentile(values, 0.5), abs=1e-5)
        assert by_type[type_]["p90_seconds"] == pytest.approx(_percentile(values, 0.9), abs=1e-5)
    assert by_type["exchange"] == {
        "type": "exchange",
        "resolved": 0,
        "median_seconds": None,
        "p90_seconds": None,
    }

    refunded = board["refunded"]
    days = [date.fromisoformat(day) for day in refunded["days"]]
    assert days == [days[0] + timedelta(days=n) for n in range(len(days))]
    currencies = {each["currency"]: each for each in refunded["currencies"]}
    assert list(currencies) == ["CNY", "JPY", "KWD"]
    assert {c: (e["exponent"], e["total"]) for c, e in currencies.items()} == {
        "CNY": (2, 4_250 + 3_800),
        "JPY": (0, 3_000),
        "KWD": (3, 12_345),
    }
    paid = await _success_days(stack, shop)
    for currency, each in currencies.items():
        assert len(each["daily"]) == len(days)
        assert {d: a for d, a in zip(days, each["daily"], strict=True) if a} == paid[currency]

    deadlines = board["deadlines"]
    assert deadlines["within_hours"] == 24
    assert deadlines["count"] == 1
    [due] = deadlines["first"]
    async with stack.client(shop.merchant) as merchant:
        waiting = (await merchant.get(f"/v1/tickets/{shop.tickets['waiting']}")).json()
    assert due["ticket_no"] == shop.tickets["waiting"]
    assert (due["merchant_id"], due["type"], due["status"], due["next_actor"]) == (
        shop.merchant_id,
        "refund_only",
        "awaiting_merchant_review",
        "merchant",
    )
    assert datetime.fromisoformat(due["deadline_at"]) == datetime.fromisoformat(
        waiting["deadline_at"]
    )
    assert due["on_timeout"] == waiting["on_timeout"]
    generated = datetime.fromisoformat(board["generated_at"])
    assert timedelta(0) < datetime.fromisoformat(due["deadline_at"]) - generated <= REVIEW


async def test_a_merchant_sees_exactly_its_own_shops_figures(
    stack: Stack, shop: Shop, other_shop: Shop
) -> None:
    own = await _get(stack, shop.merchant)
    other = await _get(stack, other_shop.merchant)

    assert own.status_code == 200, own.text
    board = own.json()
    assert board["viewer"] == "merchant"
    await _check_shop_figures(stack, shop, board)
    # The other shop's refund of CNY 9.99 is in neither figure of this shop, and the reverse.
    assert other.json()["tickets"]["opened"] == 1
    assert other.json()["refunded"]["currencies"][0]["total"] == 999
    assert other.json()["deadlines"]["count"] == 0


async def test_a_merchant_naming_another_shop_is_refused(
    stack: Stack, shop: Shop, other_shop: Shop
) -> None:
    foreign = await _get(stack, shop.merchant, merchant_id=other_shop.merchant_id)
    itself = await _get(stack, shop.merchant, merchant_id=shop.merchant_id)

    assert foreign.status_code == 403
    assert foreign.headers["content-type"] == "application/problem+json"
    assert foreign.json()["code"] == "forbidden_merchant"
    assert itself.status_code == 200
    assert itself.json()["tickets"]["opened"] == 6


async def test_support_sees_every_shop_and_filters_by_one(
    stack: Stack, shop: Shop, other_shop: Shop
) -> None:
    one = await _get(stack, SUPPORT, merchant_id=shop.merchant_id)
    every = await _get(stack, SUPPORT)

    assert one.status_code == 200, one.text
    assert one.json()["viewer"] == "support"
    await _check_shop_figures(stack, shop, one.json())
    everything = every.json()
    assert everything["period"]["merchant_id"] is None
    assert everything["tickets"]["opened"] >= 7
    totals = {each["currency"]: each["total"] for each in everything["refunded"]["currencies"]}
    assert totals["CNY"] >= 4_250 + 3_800 + 999
    assert totals["KWD"] >= 12_345
    assert everything["deadlines"]["count"] >= 1
    await _every_shops_refunds_exactly(stack)
    moments = [datetime.fromisoformat(e["deadline_at"]) for e in everything["deadlines"]["first"]]
    assert moments == sorted(moments)


async def _every_shops_refunds_exactly(stack: Stack) -> None:
    """Every shop's refunds of the last day, against the stored rows: read before and after the
    call, so that other tests' refunds still settling cannot make it differ."""
    since = datetime.now(UTC) - timedelta(days=1)
    until = datetime.now(UTC) + timedelta(minutes=5)
    period = {"from": since.isoformat(), "to": until.isoformat()}
    for _ in range(5):
        before = await _success_days(stack, None, since)
        board = (await _get(stack, SUPPORT, **period)).json()
        if before != await _success_days(stack, None, since):
            continue
        days = [date.fromisoformat(day) for day in board["refunded"]["days"]]
        got = {
            each["currency"]: {d: a for d, a in zip(days, each["daily"], strict=True) if a}
            for each in board["refunded"]["currencies"]
        }
        assert got == before
        assert {c["currency"]: c["total"] for c in board["refunded"]["currencies"]} == {
            currency: sum(per_day.values()) for currency, per_day in before.items()
        }
        return
    raise AssertionError("refunds kept changing while the dashboard was read")


@pytest.mark.parametrize("label", ["buyer", "warehouse:wh-1001", "platform:shop", None], ids=str)
async def test_other_roles_are_refused(stack: Stack, shop: Shop, label: str | None) -> None:
    if label == "buyer":
        label = await stack.new_buyer()
    answer = await _get(stack, label)

    assert answer.headers["content-type"] == "application/problem+json"
    if label is None:
        assert (answer.status_code, answer.json()["code"]) == (401, "unauthenticated")
    else:
        assert (answer.status_code, answer.json()["code"]) == (403, "forbidden_role")


async def test_the_period_bounds_tickets_and_refunds(stack: Stack, shop: Shop) -> None:
    now = datetime.now(UTC)
    earlier = await _get(
        stack,
        shop.merchant,
        **{
            "from": (now - timedelta(days=3)).isoformat(),
            "to": (now - timedelta(days=2)).isoformat(),
        },
    )
    naive = await _get(
        stack,
        shop.merchant,
        **{"from": (now - timedelta(days=1)).replace(tzinfo=None).isoformat()},
    )
    backwards = await _get(
        stack,
        shop.merchant,
        **{"from": now.isoformat(), "to": (now - timedelta(days=1)).isoformat()},
    )
    too_long = await _get(
        stack,
        shop.merchant,
        **{"from": (now - timedelta(days=367)).isoformat(), "to": now.isoformat()},
    )

    assert earlier.status_code == 200, earlier.text
    board = earlier.json()
    assert board["tickets"]["opened"] == 0
    assert board["approval"]["rate"] is None
    assert board["resolution"]["overall"]["median_seconds"] is None
    assert board["refunded"]["currencies"] == []
    assert len(board["refunded"]["days"]) == 2  # a day-long period across midnight UTC
    # Deadlines are about now, whatever the period.
    assert board["deadlines"]["count"] == 1
    assert naive.status_code == 200
    assert naive.json()["tickets"]["opened"] == 6
    assert datetime.fromisoformat(naive.json()["period"]["from"]).utcoffset() == timedelta(0)
    for refused, code in ((backwards, "invalid_period"), (too_long, "period_too_long")):
        assert refused.status_code == 422
        assert refused.json()["code"] == code
