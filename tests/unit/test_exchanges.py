"""Exchange for another item: the price difference, exact in minor units, with concrete numbers."""

from __future__ import annotations

import pytest

from domain.exchanges import ExchangeError, Offer, exchange_terms, quote_difference
from domain.orders import OrderLine, OrderSnapshot, OrderStatus, Payment
from domain.refund_terms import PriorRefunds, RefundPolicy, RequestedLine

# A: 3 tees x 10000 - 3000 discount = 27000 (units pay 9000 each).  B: 1 mug x 4599.  Paid with
# shipping 800: 32399.
TEE = OrderLine(
    line_id="A", sku="TEE-M", title="tee M", quantity=3, unit_price=10000, discount=3000
)
MUG = OrderLine(line_id="B", sku="MUG", title="mug", quantity=1, unit_price=4599)
NOTHING = PriorRefunds.none()


def order(currency: str = "CNY") -> OrderSnapshot:
    return OrderSnapshot(
        order_id="O-1",
        buyer_id="B-1",
        merchant_id="M-1",
        currency=currency,
        lines=[TEE, MUG],
        shipping_fee=800,
        payment=Payment(provider="card-co", reference="P-1", method="card", paid_total=32399),
        status=OrderStatus.delivered,
        version=1,
    )


def offer(sku: str, price: int, **extra: object) -> Offer:
    return Offer(sku=sku, title=f"{sku} item", currency="CNY", unit_price=price, **extra)


def lines(*wanted: tuple[str, int]) -> list[RequestedLine]:
    return [RequestedLine(line_id=line_id, quantity=qty) for line_id, qty in wanted]


def test_a_cheaper_replacement_refunds_the_list_price_difference_per_unit() -> None:
    terms = exchange_terms(order(), NOTHING, lines(("A", 2)), {"A": offer("TEE-S", 8550)})

    assert terms is not None
    (line,) = terms.lines
    assert (line.original_sku, line.sku, line.quantity) == ("TEE-M", "TEE-S", 2)
    assert line.returned_amount == 18000  # 2 of the 3 units' exact share of 27000
    assert line.replacement_amount == 17100
    assert line.difference == -2900 == terms.difference
    assert (terms.direction, terms.refund, terms.due) == ("refund", 2900, 0)


def test_a_same_priced_size_swap_costs_nothing_whatever_the_line_discount() -> None:
    terms = exchange_terms(order(), NOTHING, lines(("A", 3)), {"A": offer("TEE-L", 10000)})

    assert terms is not None
    assert (terms.difference, terms.direction) == (0, "none")


def test_a_dearer_replacement_is_due_from_the_buyer() -> None:
    terms = exchange_terms(order(), NOTHING, lines(("B", 1)), {"B": offer("MUG-XL", 6001)})

    assert terms is not None
    assert (terms.difference, terms.direction, terms.due, terms.refund) == (
        1402,
        "buyer_pays",
        1402,
        0,
    )


def test_a_refund_never_exceeds_what_the_buyer_paid_for_the_units_sent_back() -> None:
    # One tee paid 9000 (list 10000 less its discount share); a 500 replacement would be 9500
    # cheaper at list prices, but only the 9000 paid can come back.
    terms = exchange_terms(order(), NOTHING, lines(("A", 1)), {"A": offer("TEE-SALE", 500)})

    assert terms is not None
    assert terms.lines[0].returned_amount == 9000
    assert terms.difference == -9000


def test_lines_of_one_ticket_net_out_and_a_line_without_replacement_is_the_same_item() -> None:
    terms = exchange_terms(
        order(),
        NOTHING,
        lines(("A", 1), ("B", 1)),
        {"A": offer("TEE-S", 9000), "B": offer("MUG-XL", 4999)},
    )

    assert terms is not None
    assert [x.difference for x in terms.lines] == [-1000, 400]
    assert (terms.difference, terms.direction, terms.refund) == (-600, "refund", 600)
    assert exchange_terms(order(), NOTHING, lines(("A", 1)), {}) is None


def test_units_already_refunded_move_the_share_of_the_units_sent_back() -> None:
    # 27000 over 3 units has no remainder; a 10001-cost line shows the largest remainder.
    odd = OrderLine(line_id="A", sku="TEE-M", title="tee", quantity=3, unit_price=3334, discount=1)
    snapshot = order().model_copy(update={"lines": [odd, MUG]})
    prior = PriorRefunds(line_quantities={"A": 1}, line_amounts={"A": 3334})

    terms = exchange_terms(snapshot, prior, lines(("A", 2)), {"A": offer("TEE-S", 3000)})

    assert terms is not None
    assert terms.lines[0].returned_amount == 6667  # the 2nd and 3rd units of 10001
    assert terms.difference == -668


@pytest.mark.parametrize(
    ("replacement", "code"),
    [
        (offer("TEE-S", 8000, available=False), "replacement_unavailable"),
        (
            Offer(sku="TEE-S", title="tee", currency="USD", unit_price=8000),
            "replacement_currency_mismatch",
        ),
    ],
)
def test_an_item_not_offered_in_the_order_currency_is_refused(
    replacement: Offer, code: str
) -> None:
    with pytest.raises(ExchangeError) as refused:
        exchange_terms(order(), NOTHING, lines(("B", 1), ("A", 1)), {"A": replacement})

    assert refused.value.code == code
    assert refused.value.field == "lines[1].replacement_sku"


def test_the_difference_refund_takes_the_fee_counts_no_unit_and_stays_within_the_payment() -> None:
    terms = exchange_terms(order(), NOTHING, lines(("A", 2)), {"A": offer("TEE-S", 8550)})
    assert terms is not None
    policy = RefundPolicy(second_approval_thresholds={"CNY": 2000})

    quote = quote_difference(order(), NOTHING, terms, 300, policy)

    assert (quote.items_amount, quote.service_fee, quote.total) == (2900, 300, 2600)
    assert quote.lines == [] and quote.shipping_amount == 0 and not quote.completes_order
    assert quote.needs_second_approval
    assert "refund of the price difference CNY 29.00" in quote.notes[0]
    # Everything but 1000 of the payment is refunded already: the difference is capped there.
    spent = PriorRefunds(total_amount=32399 - 1000)
    capped = quote_difference(order(), spent, terms, 0, RefundPolicy())
    assert capped.total == 1000
