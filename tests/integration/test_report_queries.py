"""The summary report's SQL over a real, migrated PostgreSQL: rows in, every figure checked."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.tickets import TicketStatus
from persistence import reports
from persistence.models import Order, Refund, Ticket, TicketLine, TimelineEntry

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=10)
LATER = T0 + timedelta(days=1)


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10].upper()}"


@dataclass
class Spec:
    """One ticket as the report sees it: its row, its timeline events and its refunds."""

    type: str
    reason: str
    status: str
    events: list[str]
    resolved_after: float | None = None
    escalated: bool = False
    created_at: datetime = T0
    refunds: list[tuple[str, int, str]] = field(default_factory=list)  # currency, amount, status
    channel: str = "api"
    # The ticket's lines, each with its own reason or None (the ticket's).
    lines: list[str | None] = field(default_factory=list)


def _order(merchant_id: str) -> Order:
    return Order(
        order_id=_id("RP"),
        buyer_id=_id("b"),
        merchant_id=merchant_id,
        currency="CNY",
        shipping_fee=0,
        payment={"provider": "sandbox", "reference": _id("pay"), "method": "wallet"},
        status="delivered",
        version=1,
        after_sales_status="none",
        refunded_total=0,
        lines=[],
    )


def _rows(order: Order, spec: Spec) -> list[Any]:
    ticket_no = _id("AS")
    closed_at = (
        spec.created_at + timedelta(seconds=spec.resolved_after)
        if spec.resolved_after is not None
        else None
    )
    rows: list[Any] = [
        Ticket(
            ticket_no=ticket_no,
            order_id=order.order_id,
            buyer_id=order.buyer_id,
            merchant_id=order.merchant_id,
            type=spec.type,
            reason_code=spec.reason,
            currency="CNY",
            quoted_amount=10_000,
            status=spec.status,
            policy={},
            created_by_role="buyer",
            escalated=spec.escalated,
            created_at=spec.created_at,
            closed_at=closed_at,
            channel=spec.channel,
            lines=[
                TicketLine(order_id=order.order_id, line_id=f"L{n}", quantity=1, reason_code=reason)
                for n, reason in enumerate(spec.lines, start=1)
            ],
        )
    ]
    for seq, event in enumerate(spec.events, start=1):
        rows.append(
            TimelineEntry(
                ticket_no=ticket_no,
                seq=seq,
                at=spec.created_at + timedelta(seconds=seq),
                actor_role="system",
                event=event,
                from_status="submitted",
                to_status=spec.status,
                reason=event,
                data={},
            )
        )
    for seq, (currency, amount, status) in enumerate(spec.refunds, start=1):
        rows.append(
            Refund(
                ticket_no=ticket_no,
                order_id=order.order_id,
                seq=seq,
                idempotency_key=f"{ticket_no}-R{seq}",
                currency=currency,
                amount=amount,
                line_quantities={},
                line_amounts={},
                breakdown={},
                destination="original",
                status=status,
            )
        )
    return rows


async def _store(
    sessions: async_sessionmaker[AsyncSession], merchant_id: str, specs: list[Spec]
) -> None:
    order = _order(merchant_id)
    async with sessions.begin() as session:
        session.add(order)
        await session.flush()
        for spec in specs:
            for row in _rows(order, spec):  # one by one: the rows share no relationship
                session.add(row)
                await session.flush()


async def _summary(sessions: async_sessionmaker[AsyncSession], **scope: Any) -> reports.Summary:
    async with sessions() as session:
        return await reports.summary(session, reports.ReportScope(**scope))


SHOP = [
    Spec(
        "refund_only",
        "no_longer_needed",
        "completed",
        ["submitted_for_review", "approved_by_rule", "refund_settled"],
        resolved_after=100,
        refunds=[("CNY", 1_000, "succeeded")],
    ),
    Spec(
        "return_refund",
        "quality_issue",
        "completed",
        ["submitted_for_review", "approved_automatically", "checkin_timeout"],
        resolved_after=300,
        refunds=[("CNY", 2_500, "failed"), ("CNY", 2_500, "succeeded")],
    ),
    Spec(
        "return_refund",
        "quality_issue",
        "closed",
        ["submitted_for_review", "rejected_by_merchant", "closed_after_rejection"],
        resolved_after=1_000,
    ),
    Spec(
        "exchange",
        "wrong_size_or_model",
        "completed",
        ["submitted_for_review", "rejected_by_merchant", "escalated_by_buyer", "arbitrated_refund"],
        resolved_after=700,
        escalated=True,
        refunds=[("USD", 1_234, "succeeded")],
    ),
    Spec(
        "refund_only",
        "not_as_described",
        "under_arbitration",
        ["submitted_for_review", "escalated_instead_of_auto_approval"],
        escalated=True,
    ),
    Spec(
        "return_refund",
        "no_longer_needed",
        "cancelled",
        ["submitted_for_review", "approved_by_merchant", "buyer_return_timeout"],
        resolved_after=601,
    ),
    Spec(
        "refund_only",
        "damaged_in_transit",
        "rejected",
        ["submitted_for_review", "approved_by_merchant", "second_approval_declined"],
    ),
    Spec(
        "refund_only",
        "other",
        "refunding",
        ["submitted_for_review", "approved_by_merchant", "settlement_overdue", "merchant_reminded"],
        refunds=[("JPY", 500, "pending")],
    ),
    Spec(
        "refund_only",
        "lost_in_transit",
        "refunding",
        [
            "submitted_for_review",
            "rejected_by_merchant",
            "escalated_by_buyer",
            "arbitrated_partial_refund",
        ],
        escalated=True,
    ),
    Spec(
        "return_refund",
        "missing_parts",
        "completed",
        ["submitted_for_review", "approved_by_merchant", "inspection_passed", "refund_settled"],
        resolved_after=2_000,
        created_at=LATER,
        refunds=[("JPY", 300, "succeeded"), ("JPY", 200, "reversed")],
    ),
]
NO_TIMEOUTS = dict.fromkeys(reports.TIMEOUT_EVENTS, 0)


async def test_every_figure_of_one_shop(sessions: async_sessionmaker[AsyncSession]) -> None:
    shop, other = _id("m-rep"), _id("m-rep")
    await _store(sessions, shop, SHOP)
    # Another shop's tickets never leak into the first shop's report.
    await _store(
        sessions,
        other,
        [
            Spec(
                "refund_only",
                "other",
                "completed",
                ["approved_automatically"],
                resolved_after=5,
                escalated=True,
                refunds=[("CNY", 9_999, "succeeded")],
            )
        ],
    )

    report = await _summary(sessions, merchant_id=shop)

    assert report.tickets == 10
    assert report.by_type == {"refund_only": 5, "return_refund": 4, "exchange": 1}
    assert {k: v for k, v in report.by_status.items() if v} == {
        "completed": 4,
        "closed": 1,
        "under_arbitration": 1,
        "cancelled": 1,
        "rejected": 1,
        "refunding": 2,
    }
    assert len(report.by_status) == len(TicketStatus)  # every status is listed, zero when unused
    assert report.by_status["awaiting_merchant_review"] == 0
    assert report.by_reason == {
        "no_longer_needed": 2,
        "wrong_size_or_model": 1,
        "quality_issue": 2,
        "not_as_described": 1,
        "wrong_item": 0,
        "damaged_in_transit": 1,
        "lost_in_transit": 1,
        "missing_parts": 1,
        "other": 1,
    }
    # Latest decision per ticket: rule, auto, merchant x3 and two arbitrated refunds after a
    # rejection approve; a rejection and a declined second approval reject; the escalation
    # instead of auto-approval is undecided.
    assert (report.approved, report.decided) == (7, 9)
    # Resolved: 100, 300, 601, 700, 1000, 2000 seconds -> (601 + 700) / 2.
    assert report.resolved == 6
    assert report.median_resolution_seconds == 650.5
    # Succeeded only: not the failed CNY, the pending JPY nor the reversed JPY.
    assert report.refunded == {"CNY": 3_500, "JPY": 300, "USD": 1_234}
    assert all(isinstance(amount, int) for amount in report.refunded.values())
    assert report.auto_approvals == 2
    assert report.timeouts == NO_TIMEOUTS | {
        "approved_automatically": 1,
        "checkin_timeout": 1,
        "closed_after_rejection": 1,
        "escalated_instead_of_auto_approval": 1,
        "buyer_return_timeout": 1,
        "settlement_overdue": 1,
    }
    assert report.escalations == 3

    alone = await _summary(sessions, merchant_id=other)
    assert (alone.tickets, alone.refunded, alone.escalations) == (1, {"CNY": 9_999}, 1)
    assert alone.median_resolution_seconds == 5.0

    everyone = await _summary(sessions)
    assert everyone.tickets >= 11
    assert everyone.refunded["CNY"] >= 3_500 + 9_999


async def test_the_period_counts_tickets_opened_in_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    shop = _id("m-rep")
    await _store(sessions, shop, SHOP)
    split = T0 + timedelta(hours=1)

    late = await _summary(sessions, merchant_id=shop, created_from=split)
    early = await _summary(sessions, merchant_id=shop, created_to=split)
    exact = await _summary(sessions, merchant_id=shop, created_from=LATER, created_to=LATER)

    assert late.tickets == 1 and late.by_reason["missing_parts"] == 1
    assert (late.approved, late.decided, late.resolved) == (1, 1, 1)
    assert late.median_resolution_seconds == 2_000.0
    assert late.refunded == {"JPY": 300}
    assert early.tickets == 9
    assert early.median_resolution_seconds == 601.0  # 100, 300, 601, 700, 1000
    assert early.refunded == {"CNY": 3_500, "USD": 1_234}
    assert exact.tickets == 0  # [from, to) with from == to is empty


async def test_a_shop_without_tickets_reports_zeros(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    report = await _summary(sessions, merchant_id=_id("m-none"))

    assert report.tickets == 0
    assert set(report.by_type.values()) == {0}
    assert (report.approved, report.decided, report.resolved) == (0, 0, 0)
    assert report.median_resolution_seconds is None
    assert report.refunded == {}
    assert report.auto_approvals == 0 and report.escalations == 0
    assert report.timeouts == NO_TIMEOUTS


async def test_reasons_follow_each_line_and_channels_are_counted(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    shop = _id("m-rep")
    await _store(
        sessions,
        shop,
        [
            # A broken mug and a shirt too small in one ticket, opened in the app.
            Spec(
                "return_refund",
                "wrong_size_or_model",
                "completed",
                [],
                channel="app",
                lines=["damaged_in_transit", None],
            ),
            Spec("refund_only", "lost_in_transit", "completed", [], channel="web", lines=[None]),
            Spec(
                "return_refund",
                "damaged_in_transit",
                "cancelled",
                [],
                channel="app",
                lines=[None, "damaged_in_transit"],
            ),
        ],
    )

    report = await _summary(sessions, merchant_id=shop)

    assert report.tickets == 3
    assert {code: n for code, n in report.by_reason.items() if n} == {
        "wrong_size_or_model": 1,
        "damaged_in_transit": 2,
        "lost_in_transit": 1,
    }
    assert report.by_channel == {
        "app": 2,
        "web": 1,
        "mini_program": 0,
        "support_chat": 0,
        "api": 0,
    }
