"""Return windows after delivery and the per-line application limit (SPEC §2), pure rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.eligibility import (
    EligibilityError,
    ReturnWindows,
    check_application_limit,
    check_window,
)
from domain.orders import OrderLine, OrderSnapshot, OrderStatus, Payment
from domain.reasons import ReasonCode, is_merchant_fault
from domain.refund_terms import RequestedLine

DELIVERED = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
WINDOWS = ReturnWindows(no_reason=timedelta(days=7), merchant_fault=timedelta(days=15))


def order(
    status: OrderStatus = OrderStatus.delivered, delivered_at: datetime | None = DELIVERED
) -> OrderSnapshot:
    return OrderSnapshot(
        order_id="O-1",
        buyer_id="b-1",
        merchant_id="m-1",
        currency="CNY",
        lines=[OrderLine(line_id="L1", sku="S", title="T", quantity=2, unit_price=1000)],
        payment=Payment(provider="sandbox", reference="p", method="card", paid_total=2000),
        status=status,
        shipped_at=DELIVERED - timedelta(days=2),
        delivered_at=delivered_at,
    )


def refusal(reason: ReasonCode, now: datetime, snapshot: OrderSnapshot | None = None) -> str:
    try:
        check_window(snapshot or order(), reason, WINDOWS, now)
    except EligibilityError as error:
        assert error.field == "reason_code"
        return error.code
    return "accepted"


def test_a_no_reason_return_closes_after_7_days_and_a_merchant_fault_one_after_15() -> None:
    day = timedelta(days=1)
    assert refusal(ReasonCode.no_longer_needed, DELIVERED + 7 * day) == "accepted"
    assert refusal(ReasonCode.no_longer_needed, DELIVERED + 7 * day + timedelta(seconds=1)) == (
        "outside_return_window"
    )
    assert refusal(ReasonCode.quality_issue, DELIVERED + 8 * day) == "accepted"
    assert refusal(ReasonCode.quality_issue, DELIVERED + 15 * day) == "accepted"
    assert refusal(ReasonCode.quality_issue, DELIVERED + 16 * day) == "outside_return_window"


def test_the_refusal_names_the_window_and_the_delivery_date() -> None:
    with pytest.raises(EligibilityError) as refused:
        check_window(
            order(), ReasonCode.wrong_size_or_model, WINDOWS, DELIVERED + timedelta(days=8)
        )
    message = refused.value.message
    assert "7 days after delivery" in message
    assert "2026-11-20 08:00 UTC" in message and "2026-11-27 08:00 UTC" in message
    assert "wrong_size_or_model" in message


def test_no_window_runs_before_delivery_or_when_the_delivery_time_is_unknown() -> None:
    much_later = DELIVERED + timedelta(days=400)
    for status in (OrderStatus.paid, OrderStatus.shipped):
        assert refusal(ReasonCode.no_longer_needed, much_later, order(status, None)) == "accepted"
    assert refusal(ReasonCode.no_longer_needed, much_later, order(delivered_at=None)) == "accepted"
    completed = order(OrderStatus.completed)
    assert refusal(ReasonCode.no_longer_needed, much_later, completed) == "outside_return_window"


@given(
    reason=st.sampled_from(list(ReasonCode)),
    days=st.integers(min_value=1, max_value=60),
    elapsed=st.integers(min_value=0, max_value=90 * 86400),
)
def test_a_ticket_is_refused_exactly_when_its_window_has_passed(
    reason: ReasonCode, days: int, elapsed: int
) -> None:
    windows = ReturnWindows(no_reason=timedelta(days=days), merchant_fault=timedelta(days=days * 2))
    window = windows.merchant_fault if is_merchant_fault(reason) else windows.no_reason
    now = DELIVERED + timedelta(seconds=elapsed)
    try:
        check_window(order(), reason, windows, now)
        refused = False
    except EligibilityError:
        refused = True
    assert refused == (timedelta(seconds=elapsed) > window)


def test_a_line_may_be_applied_for_three_times_then_the_fourth_is_refused() -> None:
    lines = [RequestedLine(line_id="L1", quantity=1), RequestedLine(line_id="L2", quantity=1)]
    check_application_limit(lines, {"L1": 2, "L2": 0}, 3)
    check_application_limit(lines, {}, 1)
    with pytest.raises(EligibilityError) as refused:
        check_application_limit(lines, {"L1": 1, "L2": 3}, 3)
    assert refused.value.code == "too_many_applications"
    assert refused.value.field == "lines[1].line_id"
    assert "L2" in refused.value.message and "3" in refused.value.message
