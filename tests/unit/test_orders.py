from typing import Any

import pytest
from pydantic import ValidationError

from domain.orders import (
    AfterSalesStatus,
    OrderLine,
    OrderSnapshot,
    OrderStatus,
    Payment,
    after_sales_status,
)


def line(line_id: str = "L1", quantity: int = 2, unit_price: int = 1000, discount: int = 0):
    return OrderLine(
        line_id=line_id,
        sku=f"SKU-{line_id}",
        title=f"item {line_id}",
        quantity=quantity,
        unit_price=unit_price,
        discount=discount,
    )


def snapshot(**overrides: Any) -> OrderSnapshot:
    lines = overrides.pop("lines", [line("L1", 2, 1000, 300), line("L2", 1, 4999)])
    shipping_fee = overrides.pop("shipping_fee", 800)
    paid_total = overrides.pop("paid_total", sum(x.cost for x in lines) + shipping_fee)
    fields: dict[str, Any] = {
        "order_id": "O-1",
        "buyer_id": "B-1",
        "merchant_id": "M-1",
        "currency": "CNY",
        "lines": lines,
        "shipping_fee": shipping_fee,
        "payment": Payment(
            provider="alipay", reference="P-1", method="wallet", paid_total=paid_total
        ),
        "status": OrderStatus.paid,
        "version": 1,
    }
    fields.update(overrides)
    return OrderSnapshot(**fields)


def test_line_cost_is_what_the_buyer_paid_after_discount() -> None:
    assert line(quantity=3, unit_price=1000, discount=250).cost == 2750
    assert line(quantity=3, unit_price=1000, discount=3000).cost == 0


def test_discount_cannot_exceed_the_line_price() -> None:
    with pytest.raises(ValidationError, match="discount 3001 exceeds"):
        line(quantity=3, unit_price=1000, discount=3001)


@pytest.mark.parametrize(
    "bad", [{"quantity": 0}, {"unit_price": -1}, {"discount": -5}, {"unit_price": 10.5}]
)
def test_line_numbers_are_positive_integers(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        line(**bad)


@pytest.mark.parametrize("line_id", ["", "x" * 65])
def test_line_id_length(line_id: str) -> None:
    with pytest.raises(ValidationError):
        line(line_id)


def test_paid_total_must_match_lines_and_shipping() -> None:
    with pytest.raises(ValidationError) as caught:
        snapshot(paid_total=7500)
    message = str(caught.value)
    assert "7500" in message
    assert "6699" in message  # items: 2 x 1000 - 300 + 4999
    assert "800" in message
    assert "7499" in message


def test_valid_snapshot_totals() -> None:
    order = snapshot()
    assert order.items_total == 1700 + 4999
    assert order.payment.paid_total == 1700 + 4999 + 800


def test_line_ids_are_unique() -> None:
    with pytest.raises(ValidationError, match="duplicate line_id: L1"):
        snapshot(lines=[line("L1"), line("L1")])


def test_an_order_has_at_least_one_line() -> None:
    with pytest.raises(ValidationError):
        snapshot(lines=[], shipping_fee=0, paid_total=0)


def test_currency_must_be_known() -> None:
    with pytest.raises(ValidationError):
        snapshot(currency="ABC")


def test_version_starts_at_one() -> None:
    with pytest.raises(ValidationError):
        snapshot(version=0)


@pytest.mark.parametrize(
    ("status", "shipped"),
    [
        (OrderStatus.paid, False),
        (OrderStatus.shipped, True),
        (OrderStatus.delivered, True),
        (OrderStatus.completed, True),
    ],
)
def test_is_shipped(status: OrderStatus, shipped: bool) -> None:
    assert snapshot(status=status).is_shipped is shipped


def test_line_lookup() -> None:
    order = snapshot()
    assert order.line("L2").unit_price == 4999
    with pytest.raises(KeyError):
        order.line("L9")


def test_snapshot_round_trips_through_json() -> None:
    order = snapshot(status="delivered", delivered_at="2026-11-20T10:00:00Z")
    assert OrderSnapshot.model_validate_json(order.model_dump_json()) == order


@pytest.mark.parametrize(
    ("paid", "refunded", "in_flight", "status"),
    [
        (6000, 0, False, AfterSalesStatus.none),
        (6000, 0, True, AfterSalesStatus.refunding),
        (6000, 2000, True, AfterSalesStatus.refunding),
        (6000, 2000, False, AfterSalesStatus.partially_refunded),
        (6000, 5999, False, AfterSalesStatus.partially_refunded),
        (6000, 6000, False, AfterSalesStatus.refunded),
        (0, 0, False, AfterSalesStatus.none),
    ],
)
def test_after_sales_status(paid: int, refunded: int, in_flight: bool, status: str) -> None:
    assert after_sales_status(paid, refunded, in_flight) == status
