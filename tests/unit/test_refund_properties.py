"""Properties of the refund rules over any order and any way of splitting it into tickets."""

from collections import Counter
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.money import CURRENCY_EXPONENTS
from domain.orders import OrderLine, OrderSnapshot, OrderStatus, Payment
from domain.reasons import ReasonCode, is_merchant_fault
from domain.refund_terms import (
    PriorRefunds,
    RefundPolicy,
    RefundQuote,
    RefundRequest,
    RefundRuleError,
    RequestedLine,
)
from domain.refunds import add_to_prior, line_share, quote_refund

POLICY = RefundPolicy()

amounts = st.one_of(st.integers(0, 1_000), st.integers(0, 10_000_000))


@st.composite
def order_lines(draw: st.DrawFn, line_id: str) -> OrderLine:
    quantity = draw(st.integers(1, 10))
    unit_price = draw(amounts)
    discount = draw(st.integers(0, quantity * unit_price))
    return OrderLine(
        line_id=line_id,
        sku=f"SKU-{line_id}",
        title=f"item {line_id}",
        quantity=quantity,
        unit_price=unit_price,
        discount=discount,
    )


@st.composite
def orders(draw: st.DrawFn) -> OrderSnapshot:
    lines = [draw(order_lines(f"L{i}")) for i in range(draw(st.integers(1, 6)))]
    shipping_fee = draw(st.one_of(st.just(0), st.integers(0, 5_000)))
    paid = sum(line.cost for line in lines) + shipping_fee
    return OrderSnapshot(
        order_id="O-1",
        buyer_id="B-1",
        merchant_id="M-1",
        currency=draw(st.sampled_from(sorted(CURRENCY_EXPONENTS))),
        lines=lines,
        shipping_fee=shipping_fee,
        payment=Payment(provider="card-co", reference="P-1", method="card", paid_total=paid),
        status=draw(st.sampled_from(OrderStatus)),
        version=1,
    )


@dataclass(frozen=True)
class Scenario:
    order: OrderSnapshot
    tickets: list[RefundRequest]
    everything: bool
    """The tickets cover every unit of every line."""


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """An order and its units dealt out to up to six tickets, maybe leaving some unrefunded."""
    order = draw(orders())
    count = draw(st.integers(1, 6))
    everything = draw(st.booleans())
    slots = count if everything else count + 1  # the extra slot: never refunded
    dealt: list[Counter[str]] = [Counter() for _ in range(count)]
    for line in order.lines:
        for _ in range(line.quantity):
            slot = draw(st.integers(0, slots - 1))
            if slot < count:
                dealt[slot][line.line_id] += 1
    tickets = [
        RefundRequest(
            lines=[
                RequestedLine(line_id=i, quantity=units[i])
                for i in draw(st.permutations(sorted(units)))
            ],
            reason_code=draw(st.sampled_from(ReasonCode)),
        )
        for units in dealt
        if units
    ]
    covered = all(
        sum(units[line.line_id] for units in dealt) == line.quantity for line in order.lines
    )
    return Scenario(order, tickets, covered)


def assert_never_negative(quote: RefundQuote) -> None:
    assert all(line.amount >= 0 and line.quantity > 0 for line in quote.lines)
    numbers = (quote.items_amount, quote.shipping_amount, quote.service_fee, quote.total)
    assert min(numbers) >= 0
    assert quote.total <= quote.maximum


@settings(max_examples=300)
@given(scenarios())
def test_any_split_of_an_order_into_tickets(scenario: Scenario) -> None:
    order, prior = scenario.order, PriorRefunds.none()
    refunded: Counter[str] = Counter()
    for request in scenario.tickets:
        quote = quote_refund(order, prior, request, POLICY)
        assert_never_negative(quote)
        assert quote.items_amount == sum(line.amount for line in quote.lines)
        assert quote.total == quote.maximum == quote.items_amount + quote.shipping_amount
        assert quote.needs_second_approval is (quote.total > POLICY.threshold_for(order.currency))
        refunded.update({line.line_id: line.quantity for line in request.lines})
        done = all(refunded[line.line_id] == line.quantity for line in order.lines)
        assert quote.completes_order is done
        prior = add_to_prior(prior, quote)
        assert prior.total_amount <= order.payment.paid_total
        for line in order.lines:  # whatever the split, each line's refund is its exact share
            assert prior.line_amounts.get(line.line_id, 0) == line_share(
                line, 0, refunded[line.line_id]
            )

    merchant_fault = any(is_merchant_fault(t.reason_code) for t in scenario.tickets)
    if not order.is_shipped:
        shipping_back = order.shipping_fee if scenario.everything else 0
    else:
        shipping_back = order.shipping_fee if merchant_fault else 0
    assert prior.shipping_amount == shipping_back
    if scenario.everything:
        expected = order.items_total + shipping_back
        assert prior.total_amount == expected
        if not order.is_shipped:
            assert prior.total_amount == order.payment.paid_total


@given(scenarios())
def test_a_fully_refunded_order_has_nothing_left(scenario: Scenario) -> None:
    order, prior = scenario.order, PriorRefunds.none()
    for request in scenario.tickets:
        prior = add_to_prior(prior, quote_refund(order, prior, request, POLICY))
    for line in order.lines:
        left = line.quantity - prior.quantity_of(line.line_id)
        if left == 0:
            again = RefundRequest(
                lines=[RequestedLine(line_id=line.line_id, quantity=1)],
                reason_code=ReasonCode.quality_issue,
            )
            try:
                quote_refund(order, prior, again, POLICY)
            except RefundRuleError as error:
                assert error.code == "quantity_exceeds_available"
            else:
                raise AssertionError(f"line {line.line_id} refunded twice")


@given(st.data())
def test_line_share_splits_a_line_exactly(data: st.DataObject) -> None:
    line = data.draw(order_lines("X"))
    units = [line_share(line, i, 1) for i in range(line.quantity)]
    assert sum(units) == line.cost
    assert max(units) - min(units) <= 1
    assert units == sorted(units, reverse=True)  # leftover minor units go to the first units
    cut = data.draw(st.integers(0, line.quantity))
    assert line_share(line, 0, cut) + line_share(line, cut, line.quantity - cut) == line.cost


@settings(max_examples=300)
@given(scenarios(), st.data())
def test_fees_and_requested_amounts_never_overpay(scenario: Scenario, data: st.DataObject) -> None:
    order = scenario.order
    paid = order.payment.paid_total
    # Money granted outside these tickets (e.g. an arbitrated goodwill refund) uses up the cap.
    goodwill = data.draw(st.one_of(st.just(0), st.integers(0, paid)))
    prior = PriorRefunds(total_amount=goodwill)
    for plain in scenario.tickets:
        remaining = paid - prior.total_amount
        maximum = quote_refund(order, prior.model_copy(update={"total_amount": 0}), plain, POLICY)
        top = maximum.maximum
        fee = data.draw(st.one_of(st.just(0), st.integers(-2, top + 2)))
        asked = data.draw(st.one_of(st.none(), st.integers(-2, top + 2)))
        request = plain.model_copy(update={"service_fee": fee, "requested_amount": asked})
        merchant = is_merchant_fault(request.reason_code)
        try:
            quote = quote_refund(order, prior, request, POLICY)
        except RefundRuleError as error:  # every refusal must be justified by the rules
            justified = {
                "service_fee_out_of_range": fee < 0 or (fee > top and not merchant),
                "service_fee_not_allowed": fee > 0 and merchant,
                "requested_amount_negative": asked is not None and asked < 0,
                "requested_amount_exceeds_maximum": asked is not None and asked > top - fee,
                "nothing_left_to_refund": remaining == 0,
            }
            assert justified.get(error.code), (error.code, fee, asked, top, remaining)
            continue
        assert_never_negative(quote)
        assert not (merchant and fee > 0), "service fee charged for a merchant-fault reason"
        assert quote.maximum == top
        assert quote.service_fee == fee
        wanted = top - fee if asked is None else asked
        assert remaining > 0 or wanted == 0, "money granted after the payment was used up"
        assert quote.total == min(wanted, remaining)
        capped = any(note.startswith("capped at what remains") for note in quote.notes)
        assert capped is (wanted > remaining)
        prior = add_to_prior(prior, quote)
        assert 0 <= prior.total_amount <= paid
