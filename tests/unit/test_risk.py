"""Buyer risk: thresholds, wording, and properties over any history."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from domain.money import CURRENCY_EXPONENTS
from domain.risk import (
    BULK_REFUND_MIN_ORDERS,
    REFUNDS_HIGH,
    REFUNDS_MEDIUM,
    BuyerHistory,
    RiskLevel,
    score,
)

currencies = st.sampled_from(sorted(CURRENCY_EXPONENTS))


@st.composite
def histories(draw: st.DrawFn) -> BuyerHistory:
    refunded_tickets = draw(st.integers(0, 20))
    return BuyerHistory(
        orders=draw(st.integers(0, 30)),
        refunded_tickets=refunded_tickets,
        refunded_orders=draw(st.integers(0, refunded_tickets)),
        refunded_amounts=draw(st.dictionaries(currencies, st.integers(1, 10**9), max_size=3)),
        tickets_on_order_24h=draw(st.integers(0, 5)),
        watchlist_reason=draw(st.none() | st.text(min_size=1, max_size=40)),
    )


def test_a_buyer_without_history_is_low_risk_for_no_reason() -> None:
    assert score(BuyerHistory()) == score(BuyerHistory(orders=0, refunded_amounts={}))
    result = score(BuyerHistory())
    assert result.level is RiskLevel.low
    assert result.reasons == []


def test_a_buyer_who_buys_a_lot_and_refunds_little_is_low_risk() -> None:
    result = score(BuyerHistory(orders=20, refunded_tickets=1, refunded_orders=1))
    assert result.level is RiskLevel.low and result.reasons == []


def test_repeated_refunds_are_medium_then_high_with_count_and_share() -> None:
    medium = score(BuyerHistory(orders=30, refunded_tickets=REFUNDS_MEDIUM, refunded_orders=3))
    high = score(BuyerHistory(orders=30, refunded_tickets=REFUNDS_HIGH, refunded_orders=6))
    assert medium.level is RiskLevel.medium
    assert medium.reasons == ["3 refunds in the last 90 days (10% of orders)"]
    assert high.level is RiskLevel.high
    assert high.reasons == ["6 refunds in the last 90 days (20% of orders)"]


def test_a_high_share_of_refunded_orders_is_medium() -> None:
    result = score(BuyerHistory(orders=3, refunded_tickets=2, refunded_orders=2))
    assert result.level is RiskLevel.medium
    assert result.reasons == ["2 refunds in the last 90 days (67% of orders)"]


def test_bought_many_then_refunded_many_is_high() -> None:
    result = score(
        BuyerHistory(orders=BULK_REFUND_MIN_ORDERS + 2, refunded_tickets=4, refunded_orders=4)
    )
    assert result.level is RiskLevel.high
    assert result.reasons == [
        "bought many then refunded many: 4 of 5 orders refunded in the last 90 days",
        "4 refunds in the last 90 days (80% of orders)",
    ]


def test_a_large_refunded_amount_is_medium_in_that_currencys_units() -> None:
    cny = score(BuyerHistory(orders=50, refunded_amounts={"CNY": 300_000}))
    jpy_small = score(BuyerHistory(orders=50, refunded_amounts={"JPY": 2_999}))
    assert cny.level is RiskLevel.medium
    assert cny.reasons == ["CNY 3,000.00 refunded in the last 90 days"]
    assert jpy_small.level is RiskLevel.low


def test_several_tickets_on_one_order_within_a_day_are_medium() -> None:
    assert score(BuyerHistory(tickets_on_order_24h=1)).level is RiskLevel.low
    result = score(BuyerHistory(tickets_on_order_24h=2))
    assert result.level is RiskLevel.medium
    assert result.reasons == ["2 other tickets on this order within 24 h"]


def test_the_watchlist_reason_is_shown_first() -> None:
    result = score(BuyerHistory(watchlist_reason="chargeback fraud", tickets_on_order_24h=3))
    assert result.level is RiskLevel.high
    assert result.reasons[0] == "on the support watchlist: chargeback fraud"


@given(histories(), st.text(min_size=1, max_size=40))
def test_the_watchlist_is_always_high(history: BuyerHistory, reason: str) -> None:
    result = score(replace(history, watchlist_reason=reason))
    assert result.level is RiskLevel.high
    assert f"on the support watchlist: {reason}" in result.reasons


@given(
    histories(),
    st.integers(0, 10),
    st.integers(0, 10),
    st.dictionaries(currencies, st.integers(0, 10**9), max_size=3),
)
def test_more_refunds_never_lower_the_level(
    history: BuyerHistory, more_tickets: int, more_orders: int, more_amounts: dict[str, int]
) -> None:
    refunded_tickets = history.refunded_tickets + more_tickets
    more = replace(
        history,
        refunded_tickets=refunded_tickets,
        refunded_orders=min(history.refunded_orders + more_orders, refunded_tickets),
        refunded_amounts={
            c: history.refunded_amounts.get(c, 0) + more_amounts.get(c, 0)
            for c in {*history.refunded_amounts, *more_amounts}
        },
    )
    assert score(more).level.rank >= score(history).level.rank


@given(histories())
def test_every_level_above_low_says_why(history: BuyerHistory) -> None:
    result = score(history)
    assert (result.level is RiskLevel.low) == (result.reasons == [])
    assert 0 <= history.refund_share_percent <= 100
