"""The bounds of amounts, counts and text: every currency has one, and what they admit fits."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from domain.bounds import MAX_LINE_QUANTITY, MAX_ORDER_LINES, MAX_ROW_ID
from domain.money import CURRENCY_EXPONENTS, MAX_AMOUNT_MAJOR, MAX_ANY_AMOUNT, max_amount
from domain.orders import OrderSnapshot
from domain.policy import Deadlines
from domain.text import refuse_unstorable, storable_copy, unstorable_reason


def test_every_known_currency_has_a_largest_amount() -> None:
    assert set(MAX_AMOUNT_MAJOR) == set(CURRENCY_EXPONENTS)
    assert max_amount("CNY") == 10**11 and max_amount("JPY") == 10**10
    assert max_amount("KWD") == 10**10
    assert max(max_amount(code) for code in CURRENCY_EXPONENTS) == MAX_ANY_AMOUNT


def test_the_largest_order_the_bounds_admit_fits_a_bigint() -> None:
    assert MAX_ANY_AMOUNT * MAX_LINE_QUANTITY * MAX_ORDER_LINES <= MAX_ROW_ID


def _order(unit_price: int, quantity: int = 1, currency: str = "CNY") -> OrderSnapshot:
    return OrderSnapshot(
        order_id="O-1",
        buyer_id="b",
        merchant_id="m",
        currency=currency,
        lines=[
            {
                "line_id": "L1",
                "sku": "s",
                "title": "t",
                "quantity": quantity,
                "unit_price": unit_price,
            }
        ],
        payment={
            "provider": "sandbox",
            "reference": "r",
            "method": "card",
            "paid_total": unit_price * quantity,
        },
        status="paid",
    )


def test_an_order_at_its_currencys_bound_is_taken_and_one_unit_more_is_not() -> None:
    assert _order(max_amount("CNY")).items_total == max_amount("CNY")
    with pytest.raises(ValidationError, match="largest CNY amount"):
        _order(max_amount("CNY") + 1)
    with pytest.raises(ValidationError, match="quantity x unit_price"):
        _order(max_amount("CNY") // 2 + 1, quantity=2)
    assert _order(max_amount("VND"), currency="VND").items_total == 10**12


@pytest.mark.parametrize("text", ["a\x00b", "\ud800", "x\udfff"])
def test_unstorable_text_is_named_and_replaced(text: str) -> None:
    assert unstorable_reason(text) is not None
    with pytest.raises(ValueError, match="cannot contain"):
        refuse_unstorable({"outer": [{"inner": text}]})
    copy = storable_copy({"k": [text]})
    assert unstorable_reason(copy["k"][0]) is None and "\ufffd" in copy["k"][0]


def test_storable_text_passes_untouched() -> None:
    text = "退货 🚚 — ok\u200d"
    assert unstorable_reason(text) is None
    assert refuse_unstorable([text]) == [text]
    assert storable_copy(text) == text


@pytest.mark.parametrize("value", ["P999999999D", "PT0S", "-PT1H", "P367D"])
def test_a_policy_duration_out_of_bounds_is_refused(value: str) -> None:
    with pytest.raises(ValidationError):
        Deadlines(merchant_review=value)
