"""The money rules of SPEC §4, one at a time, with concrete numbers."""

import pickle
from typing import Any

import pytest
from pydantic import ValidationError

from domain.orders import OrderLine, OrderSnapshot, OrderStatus, Payment
from domain.reasons import (
    DISPUTED_REASONS,
    REASON_FAULT,
    Fault,
    ReasonCode,
    fault_of,
    is_merchant_fault,
)
from domain.refund_terms import (
    PriorRefunds,
    RefundPolicy,
    RefundQuote,
    RefundRequest,
    RefundRuleError,
    RequestedLine,
)
from domain.refunds import add_to_prior, line_share, quote_refund

BUYER = ReasonCode.no_longer_needed
MERCHANT = ReasonCode.quality_issue

# Line A: 3 units x 400 - 200 discount = 1000.  Line B: 1 unit x 5000 - 500 discount = 4500.
# Shipping 800.  Paid: 6300.
A = OrderLine(line_id="A", sku="SKU-A", title="mug", quantity=3, unit_price=400, discount=200)
B = OrderLine(line_id="B", sku="SKU-B", title="kettle", quantity=1, unit_price=5000, discount=500)


def order(
    status: OrderStatus = OrderStatus.paid,
    lines: tuple[OrderLine, ...] = (A, B),
    shipping_fee: int = 800,
    currency: str = "CNY",
) -> OrderSnapshot:
    paid = sum(line.cost for line in lines) + shipping_fee
    return OrderSnapshot(
        order_id="O-1",
        buyer_id="B-1",
        merchant_id="M-1",
        currency=currency,
        lines=list(lines),
        shipping_fee=shipping_fee,
        payment=Payment(provider="card-co", reference="P-1", method="card", paid_total=paid),
        status=status,
        version=1,
    )


def ask(*lines: tuple[str, int], reason: ReasonCode = BUYER, **extra: Any) -> RefundRequest:
    return RefundRequest(
        lines=[RequestedLine(line_id=i, quantity=q) for i, q in lines], reason_code=reason, **extra
    )


def quote(
    snapshot: OrderSnapshot,
    request: RefundRequest,
    prior: PriorRefunds | None = None,
    policy: RefundPolicy | None = None,
) -> RefundQuote:
    return quote_refund(snapshot, prior or PriorRefunds.none(), request, policy or RefundPolicy())


def in_sequence(snapshot: OrderSnapshot, *requests: RefundRequest) -> list[RefundQuote]:
    prior, quotes = PriorRefunds.none(), []
    for request in requests:
        quotes.append(quote_refund(snapshot, prior, request, RefundPolicy()))
        prior = add_to_prior(prior, quotes[-1])
    return quotes


def refused(code: str, field: str | None, *args: Any, **kwargs: Any) -> RefundRuleError:
    with pytest.raises(RefundRuleError) as caught:
        quote(*args, **kwargs)
    assert (caught.value.code, caught.value.field) == (code, field)
    return caught.value


# --- what a line cost, and exact shares -------------------------------------------------------


def test_refund_returns_what_was_paid_never_the_discount() -> None:
    result = quote(order(OrderStatus.delivered), ask(("B", 1)))
    assert result.items_amount == 4500
    assert result.lines[0].amount == 4500


def test_largest_remainder_one_unit_at_a_time() -> None:
    quotes = in_sequence(order(OrderStatus.delivered), ask(("A", 1)), ask(("A", 1)), ask(("A", 1)))
    assert [q.items_amount for q in quotes] == [334, 333, 333]


@pytest.mark.parametrize(("first", "second"), [(2, 1), (1, 2)])
def test_largest_remainder_any_split_adds_up_to_the_line_cost(first: int, second: int) -> None:
    quotes = in_sequence(order(OrderStatus.delivered), ask(("A", first)), ask(("A", second)))
    assert sum(q.items_amount for q in quotes) == 1000
    assert quotes[0].items_amount == {2: 667, 1: 334}[first]


def test_line_share() -> None:
    line = OrderLine(line_id="X", sku="X", title="x", quantity=4, unit_price=251, discount=0)
    assert [line_share(line, i, 1) for i in range(4)] == [251, 251, 251, 251]
    odd = OrderLine(line_id="Y", sku="Y", title="y", quantity=4, unit_price=300, discount=2)
    # 1198 over 4 units: 299 each, 2 left over for the first two units.
    assert [line_share(odd, i, 1) for i in range(4)] == [300, 300, 299, 299]
    assert line_share(odd, 1, 2) == 599
    assert line_share(odd, 0, 4) == 1198
    assert line_share(odd, 4, 0) == 0


@pytest.mark.parametrize(("done", "quantity"), [(-1, 1), (0, -1), (3, 2), (0, 5)])
def test_line_share_outside_the_line(done: int, quantity: int) -> None:
    with pytest.raises(ValueError):
        line_share(A, done, quantity)


# --- shipping ---------------------------------------------------------------------------------


def test_unshipped_shipping_goes_back_with_the_completing_refund_only() -> None:
    first, last = in_sequence(order(OrderStatus.paid), ask(("A", 3)), ask(("B", 1)))
    assert (first.shipping_amount, first.total, first.completes_order) == (0, 1000, False)
    assert "shipping not refunded yet" in " ".join(first.notes)
    assert (last.shipping_amount, last.total, last.completes_order) == (800, 5300, True)
    assert "refund includes shipping: this ticket completes the unshipped order" in last.notes
    assert first.total + last.total == 6300


def test_unshipped_whole_order_in_one_ticket_refunds_everything() -> None:
    result = quote(order(OrderStatus.paid), ask(("B", 1), ("A", 3)))
    assert (result.items_amount, result.shipping_amount, result.total) == (5500, 800, 6300)
    assert result.completes_order


def test_unshipped_partial_merchant_fault_keeps_shipping_until_completion() -> None:
    result = quote(order(OrderStatus.paid), ask(("A", 1), reason=MERCHANT))
    assert result.shipping_amount == 0


def test_shipped_merchant_fault_refunds_shipping_once() -> None:
    first, second = in_sequence(
        order(OrderStatus.shipped),
        ask(("A", 1), reason=MERCHANT),
        ask(("A", 1), reason=ReasonCode.damaged_in_transit),
    )
    assert (first.shipping_amount, first.total) == (800, 334 + 800)
    assert "shipping refunded: merchant-fault reason" in first.notes
    assert (second.shipping_amount, second.total) == (0, 333)
    assert "shipping not refunded: an earlier ticket refunded it" in second.notes


@pytest.mark.parametrize("status", [OrderStatus.shipped, OrderStatus.delivered])
def test_shipped_buyer_fault_never_refunds_shipping(status: OrderStatus) -> None:
    result = quote(order(status), ask(("A", 3), ("B", 1), reason=ReasonCode.wrong_size_or_model))
    assert (result.shipping_amount, result.total, result.maximum) == (0, 5500, 5500)
    assert result.completes_order
    assert "shipping not refunded: buyer-fault reason after shipment" in result.notes


def test_policy_can_keep_shipping_on_merchant_fault() -> None:
    policy = RefundPolicy(refund_shipping_on_merchant_fault=False)
    result = quote(order(OrderStatus.delivered), ask(("B", 1), reason=MERCHANT), policy=policy)
    assert (result.shipping_amount, result.total) == (0, 4500)


def test_no_shipping_fee_no_shipping_note() -> None:
    result = quote(order(shipping_fee=0), ask(("A", 3), ("B", 1)))
    assert (result.shipping_amount, result.total, result.notes) == (0, 5500, [])


# --- service fee ------------------------------------------------------------------------------


def test_service_fee_on_a_buyer_fault_return() -> None:
    result = quote(order(OrderStatus.delivered), ask(("B", 1), service_fee=450))
    assert (result.maximum, result.service_fee, result.total) == (4500, 450, 4050)
    assert "service fee of CNY 4.50 deducted" in result.notes


def test_service_fee_may_take_the_whole_refund() -> None:
    result = quote(order(OrderStatus.delivered), ask(("B", 1), service_fee=4500))
    assert result.total == 0


@pytest.mark.parametrize("fee", [4501, -1])
def test_service_fee_out_of_range(fee: int) -> None:
    refused(
        "service_fee_out_of_range",
        "service_fee",
        order(OrderStatus.delivered),
        ask(("B", 1), service_fee=fee),
    )


def test_a_fee_on_a_free_line_is_out_of_range_not_a_merchant_fault() -> None:
    """A buyer-fault line that cost nothing leaves no refund to take a fee from."""
    free = OrderLine(
        line_id="F", sku="SKU-F", title="gift", quantity=1, unit_price=500, discount=500
    )
    error = refused(
        "service_fee_out_of_range",
        "service_fee",
        order(OrderStatus.delivered, lines=(A, free)),
        ask(("F", 1), service_fee=1),
    )
    assert "merchant-fault" not in str(error)


def test_no_service_fee_for_merchant_fault() -> None:
    error = refused(
        "service_fee_not_allowed",
        "service_fee",
        order(OrderStatus.delivered),
        ask(("B", 1), reason=ReasonCode.wrong_item, service_fee=1),
    )
    assert "merchant-fault" in str(error)
    fine = quote(order(OrderStatus.delivered), ask(("B", 1), reason=MERCHANT, service_fee=0))
    assert fine.total == 4500 + 800


# --- buyer asks for less ----------------------------------------------------------------------


def test_buyer_may_ask_for_less_than_the_maximum() -> None:
    result = quote(order(OrderStatus.delivered), ask(("B", 1), requested_amount=2000))
    assert (result.maximum, result.total) == (4500, 2000)
    assert "refund set to CNY 20.00 of CNY 45.00 available" in result.notes
    exact = quote(order(OrderStatus.delivered), ask(("B", 1), requested_amount=4500))
    assert exact.total == 4500


def test_buyer_may_not_ask_for_more_than_the_maximum() -> None:
    refused(
        "requested_amount_exceeds_maximum",
        "requested_amount",
        order(OrderStatus.delivered),
        ask(("B", 1), requested_amount=4501),
    )


def test_requested_amount_counts_after_the_service_fee() -> None:
    ok = quote(order(OrderStatus.delivered), ask(("B", 1), service_fee=500, requested_amount=4000))
    assert ok.total == 4000
    refused(
        "requested_amount_exceeds_maximum",
        "requested_amount",
        order(OrderStatus.delivered),
        ask(("B", 1), service_fee=500, requested_amount=4001),
    )


def test_requested_amount_cannot_be_negative() -> None:
    refused(
        "requested_amount_negative",
        "requested_amount",
        order(OrderStatus.delivered),
        ask(("B", 1), requested_amount=-1),
    )


# --- second approval --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "threshold"), [("CNY", 500_000), ("JPY", 5_000), ("KWD", 5_000_000)]
)
def test_second_approval_above_5000_major_units(currency: str, threshold: int) -> None:
    at = OrderLine(line_id="A", sku="A", title="a", quantity=1, unit_price=threshold)
    above = OrderLine(line_id="B", sku="B", title="b", quantity=1, unit_price=threshold + 1)
    snapshot = order(OrderStatus.delivered, (at, above), shipping_fee=0, currency=currency)
    assert not quote(snapshot, ask(("A", 1))).needs_second_approval
    large = quote(snapshot, ask(("B", 1)))
    assert large.needs_second_approval
    assert any(note.startswith("second approval needed") for note in large.notes)


def test_second_approval_looks_at_the_amount_actually_refunded() -> None:
    big = OrderLine(line_id="A", sku="A", title="a", quantity=1, unit_price=600_000)
    snapshot = order(OrderStatus.delivered, (big,), shipping_fee=0)
    assert quote(snapshot, ask(("A", 1))).needs_second_approval
    assert not quote(snapshot, ask(("A", 1), requested_amount=500_000)).needs_second_approval


def test_second_approval_threshold_per_currency_in_policy() -> None:
    policy = RefundPolicy(second_approval_thresholds={"CNY": 4000})
    assert policy.threshold_for("CNY") == 4000
    assert policy.threshold_for("JPY") == 5000
    assert quote(order(OrderStatus.delivered), ask(("B", 1)), policy=policy).needs_second_approval
    with pytest.raises(ValidationError):
        RefundPolicy(second_approval_thresholds={"ABC": 1})


# --- cap over all tickets ---------------------------------------------------------------------


def test_capped_at_what_remains_of_the_payment() -> None:
    # An earlier goodwill refund took all but 1,000 of the 6,300 paid.
    prior = PriorRefunds(total_amount=5300)
    result = quote(order(OrderStatus.delivered), ask(("B", 1)), prior=prior)
    assert (result.maximum, result.total) == (4500, 1000)
    assert "capped at what remains of the payment: CNY 10.00" in result.notes


def test_nothing_left_to_refund() -> None:
    prior = PriorRefunds(total_amount=6300)
    error = refused("nothing_left_to_refund", None, order(), ask(("A", 1)), prior=prior)
    assert "CNY 63.00" in str(error)


# --- validation of the request ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "code", "field"),
    [
        ((), "empty_request", "lines"),
        ((("A", 1), ("Z", 1)), "unknown_line", "lines[1].line_id"),
        ((("A", 1), ("A", 1)), "duplicate_line", "lines[1].line_id"),
        ((("A", 0),), "non_positive_quantity", "lines[0].quantity"),
        ((("B", 1), ("A", -2)), "non_positive_quantity", "lines[1].quantity"),
        ((("A", 4),), "quantity_exceeds_available", "lines[0].quantity"),
    ],
)
def test_request_errors(lines: tuple[tuple[str, int], ...], code: str, field: str) -> None:
    refused(code, field, order(), ask(*lines))


def test_quantity_already_refunded_is_not_available_again() -> None:
    prior = PriorRefunds(line_quantities={"A": 2}, line_amounts={"A": 667}, total_amount=667)
    error = refused(
        "quantity_exceeds_available", "lines[0].quantity", order(), ask(("A", 2)), prior=prior
    )
    assert "only 1 of 3 left" in str(error)
    assert quote(order(), ask(("A", 1)), prior=prior).items_amount == 333


def test_refund_rule_error_survives_pickling() -> None:
    error = RefundRuleError("unknown_line", "no line Z", "lines[0].line_id")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.code, copy.field, str(copy)) == ("unknown_line", "lines[0].line_id", "no line Z")
    assert isinstance(copy, ValueError)


# --- recording what was granted ---------------------------------------------------------------


def test_add_to_prior_accumulates() -> None:
    snapshot = order(OrderStatus.delivered)
    first = quote(snapshot, ask(("A", 1), reason=MERCHANT))
    prior = add_to_prior(PriorRefunds.none(), first)
    second = quote(snapshot, ask(("A", 2), ("B", 1), service_fee=100), prior=prior)
    prior = add_to_prior(prior, second)
    assert prior == PriorRefunds(
        line_quantities={"A": 3, "B": 1},
        line_amounts={"A": 1000, "B": 4500},
        shipping_amount=800,
        total_amount=334 + 800 + 666 + 4500 - 100,
    )


def test_quote_is_frozen_and_never_negative() -> None:
    result = quote(order(), ask(("A", 1)))
    with pytest.raises(ValidationError):
        result.total = -1  # type: ignore[misc]
    with pytest.raises(ValidationError):
        RefundQuote.model_validate({**result.model_dump(), "total": -1})


# --- reasons ----------------------------------------------------------------------------------


def test_reason_faults() -> None:
    buyer = {ReasonCode.no_longer_needed, ReasonCode.wrong_size_or_model, ReasonCode.other}
    assert set(REASON_FAULT) == set(ReasonCode)
    for code in ReasonCode:
        expected = Fault.buyer if code in buyer else Fault.merchant
        assert fault_of(code) is expected
        assert is_merchant_fault(code) is (expected is Fault.merchant)
    assert fault_of("missing_parts") is Fault.merchant
    assert {ReasonCode.not_as_described} == DISPUTED_REASONS
