"""The assess_risk activity over a real, migrated PostgreSQL: history in, level and reasons out,
written on the ticket."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.risk import RiskActivities
from contracts import RiskAssessment, RiskRequest
from persistence.models import Order, OrderLine, Refund, Shipment, Ticket, WatchlistEntry

NOW = datetime.now(UTC)


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10].upper()}"


def _order(buyer_id: str, *, created_at: datetime = NOW, status: str = "paid") -> Order:
    order_id = _id("RO")
    return Order(
        order_id=order_id,
        buyer_id=buyer_id,
        merchant_id="m-risk",
        currency="CNY",
        shipping_fee=0,
        payment={"provider": "sandbox", "reference": f"pay-{order_id}", "method": "wallet"}
        | {"paid_total": 20_000},
        status=status,
        shipped_at=NOW - timedelta(days=3) if status != "paid" else None,
        delivered_at=NOW - timedelta(days=1) if status == "delivered" else None,
        version=1,
        after_sales_status="none",
        refunded_total=0,
        created_at=created_at,
        lines=[
            OrderLine(
                line_id="L1",
                position=0,
                sku="SKU-L1",
                title="Kettle",
                quantity=1,
                unit_price=20_000,
                discount=0,
            )
        ],
    )


def _ticket(
    order: Order,
    *,
    status: str = "awaiting_merchant_review",
    reason_code: str = "no_longer_needed",
    created_at: datetime = NOW,
    refunded_amount: int = 0,
) -> Ticket:
    return Ticket(
        ticket_no=_id("AS"),
        order_id=order.order_id,
        buyer_id=order.buyer_id,
        merchant_id=order.merchant_id,
        type="refund_only",
        reason_code=reason_code,
        description="the colour is not the one in the photos",
        evidence=["https://img.example/1.jpg"],
        currency=order.currency,
        quoted_amount=20_000,
        refunded_amount=refunded_amount,
        status=status,
        policy={},
        created_by_role="buyer",
        created_at=created_at,
    )


def _refund(ticket: Ticket, status: str, amount: int = 100_000) -> Refund:
    return Refund(
        ticket_no=ticket.ticket_no,
        order_id=ticket.order_id,
        seq=1,
        idempotency_key=f"{ticket.ticket_no}-R1",
        currency=ticket.currency,
        amount=amount,
        line_quantities={"L1": 1},
        line_amounts={"L1": amount},
        breakdown={},
        destination="original",
        status=status,
    )


async def _store(sessions: async_sessionmaker[AsyncSession], *rows: Any) -> None:
    async with sessions.begin() as session:
        for row in rows:
            session.add(row)
            await session.flush()


async def _assess(sessions: async_sessionmaker[AsyncSession], ticket_no: str) -> RiskAssessment:
    activities = RiskActivities(sessions)
    result: RiskAssessment = await ActivityEnvironment().run(
        activities.assess_risk, RiskRequest(ticket_no=ticket_no)
    )
    return result


async def _row(sessions: async_sessionmaker[AsyncSession], ticket_no: str) -> Ticket:
    async with sessions() as session:
        ticket = await session.get(Ticket, ticket_no)
    assert ticket is not None
    return ticket


async def test_a_buyer_who_bought_many_and_refunded_most_is_high_risk(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    buyer = _id("b")
    orders = [_order(buyer) for _ in range(5)]
    refunded = [
        _ticket(o, status="completed", refunded_amount=100_000, created_at=NOW - timedelta(days=d))
        for o, d in zip(orders[:4], (2, 10, 30, 60), strict=True)
    ]
    # Older than the window, or never paid out: these do not count.
    old_order = _order(buyer, created_at=NOW - timedelta(days=120))
    old = _ticket(
        old_order, status="completed", refunded_amount=20_000, created_at=NOW - timedelta(days=100)
    )
    failed = _ticket(orders[4], status="refund_failed", created_at=NOW - timedelta(days=5))
    current = _ticket(orders[4])
    await _store(
        sessions,
        *orders,
        old_order,
        *refunded,
        old,
        failed,
        current,
        *[_refund(t, "succeeded") for t in refunded[:2]],
        _refund(old, "succeeded"),
        _refund(failed, "failed"),
    )

    assessment = await _assess(sessions, current.ticket_no)
    row = await _row(sessions, current.ticket_no)

    assert assessment.level == "high"
    assert assessment.reasons == [
        "bought many then refunded many: 4 of 5 orders refunded in the last 90 days",
        "4 refunds in the last 90 days (80% of orders)",
        "CNY 4,000.00 refunded in the last 90 days",
    ]
    assert assessment.watchlisted is False
    assert assessment.evidence_summary is None
    assert row.risk_level == "high"
    assert row.risk_reasons == assessment.reasons
    assert row.evidence_summary is None


async def test_the_ticket_being_assessed_does_not_count_against_its_buyer(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    order = _order(_id("b"))
    current = _ticket(order, status="completed", refunded_amount=20_000)
    await _store(sessions, order, current, _refund(current, "succeeded"))

    assessment = await _assess(sessions, current.ticket_no)

    assert assessment.level == "low" and assessment.reasons == []
    assert (await _row(sessions, current.ticket_no)).risk_level == "low"


async def test_several_tickets_on_one_order_within_a_day_are_medium(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    order = _order(_id("b"))
    earlier = [
        _ticket(order, status="cancelled", created_at=NOW - timedelta(hours=h)) for h in (3, 20)
    ]
    long_ago = _ticket(order, status="cancelled", created_at=NOW - timedelta(hours=30))
    current = _ticket(order)
    await _store(sessions, order, *earlier, long_ago, current)

    assessment = await _assess(sessions, current.ticket_no)

    assert assessment.level == "medium"
    assert assessment.reasons == ["2 other tickets on this order within 24 h"]


async def test_a_watchlisted_buyers_disputed_ticket_is_high_with_an_evidence_summary(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    buyer = _id("b")
    order = _order(buyer, status="delivered")
    current = _ticket(order, reason_code="not_as_described")
    shipment = Shipment(
        ticket_no=current.ticket_no,
        direction="return",
        carrier="sf",
        tracking_no=_id("SF"),
        shipped_at=NOW - timedelta(hours=5),
        status="in_transit",
    )
    watched = WatchlistEntry(buyer_id=buyer, reason="claims every parcel arrives empty")
    await _store(sessions, order, current, shipment, watched)

    first = await _assess(sessions, current.ticket_no)
    again = await _assess(sessions, current.ticket_no)
    row = await _row(sessions, current.ticket_no)

    assert first == again
    assert first.level == "high" and first.watchlisted is True
    assert first.reasons == ["on the support watchlist: claims every parcel arrives empty"]
    summary = first.evidence_summary
    assert summary is not None
    assert summary["order"]["id"] == order.order_id
    assert summary["order"]["status"] == "delivered"
    assert summary["order"]["paid_total"] == 20_000 and summary["order"]["currency"] == "CNY"
    assert summary["order"]["delivered_at"] is not None
    assert [x["line_id"] for x in summary["order"]["lines"]] == ["L1"]
    assert [(x["direction"], x["tracking_no"]) for x in summary["logistics"]] == [
        ("return", shipment.tracking_no)
    ]
    assert summary["history"]["orders"] == 1 and summary["history"]["watchlisted"] is True
    assert summary["evidence"] == {
        "urls": ["https://img.example/1.jpg"],
        "description": "the colour is not the one in the photos",
    }
    assert row.risk_level == "high" and row.risk_reasons == first.reasons
    assert row.evidence_summary == summary


async def test_a_rerun_overwrites_the_earlier_assessment(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    buyer = _id("b")
    order = _order(buyer)
    current = _ticket(order)
    await _store(sessions, order, current)

    before = await _assess(sessions, current.ticket_no)
    await _store(sessions, WatchlistEntry(buyer_id=buyer, reason="chargebacks"))
    after = await _assess(sessions, current.ticket_no)

    assert before.level == "low" and before.reasons == []
    assert after.level == "high"
    assert (await _row(sessions, current.ticket_no)).risk_reasons == [
        "on the support watchlist: chargebacks"
    ]


async def test_a_ticket_not_stored_yet_is_retried(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    with pytest.raises(ApplicationError) as raised:
        await _assess(sessions, "AS19990101-999999")
    assert raised.value.non_retryable is False
