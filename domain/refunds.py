"""The refund calculator: what one ticket gives back, by the money rules of SPEC §4.

Pure and deterministic. `quote_refund` answers for one ticket given what earlier tickets of the
same order were granted (`PriorRefunds`); `add_to_prior` records a granted quote, so that a
sequence of tickets, applied one after the other, never pays out more than the order cost.
"""

from __future__ import annotations

from domain.money import format_minor
from domain.orders import OrderLine, OrderSnapshot
from domain.reasons import is_merchant_fault
from domain.refund_terms import (
    LineRefund,
    PriorRefunds,
    RefundPolicy,
    RefundQuote,
    RefundRequest,
    RefundRuleError,
    RequestedLine,
)


def line_share(line: OrderLine, already_refunded_qty: int, quantity: int) -> int:
    """Exact share of `line.cost` for `quantity` units after `already_refunded_qty` units.

    Largest remainder over units: each unit gets cost // units and the cost % units minor
    units left over go one each to the first units, so every split adds up to the cost.
    """
    end = already_refunded_qty + quantity
    if already_refunded_qty < 0 or quantity < 0 or end > line.quantity:
        raise ValueError(
            f"line {line.line_id}: units {already_refunded_qty}..{end} outside 0..{line.quantity}"
        )
    base, remainder = divmod(line.cost, line.quantity)
    units_with_extra = max(0, min(end, remainder) - already_refunded_qty)
    return quantity * base + units_with_extra


def quote_refund(
    order: OrderSnapshot, prior: PriorRefunds, request: RefundRequest, policy: RefundPolicy
) -> RefundQuote:
    """What this ticket refunds, with the reasons for each automatic choice in `notes`."""
    notes: list[str] = []
    lines = _refund_lines(order, prior, request.lines)
    items = sum(line.amount for line in lines)
    completes = _completes_order(order, prior, lines)
    shipping = _shipping(order, prior, request, policy, completes, notes)
    maximum = items + shipping
    fee = _service_fee(order, request, _fee_cap(request, lines, maximum), notes)
    total = _requested_total(order, request, maximum - fee, notes)
    total = cap_to_payment(order, prior, total, notes)
    second = needs_second_approval(order.currency, total, policy, notes)
    return RefundQuote(
        currency=order.currency,
        lines=lines,
        items_amount=items,
        shipping_amount=shipping,
        service_fee=fee,
        maximum=maximum,
        total=total,
        needs_second_approval=second,
        completes_order=completes,
        notes=notes,
    )


def needs_second_approval(
    currency: str, total: int, policy: RefundPolicy, notes: list[str]
) -> bool:
    """Above the currency's threshold a second approver is needed (SPEC §4); says so in
    `notes`."""
    threshold = policy.threshold_for(currency)
    if total <= threshold:
        return False
    notes.append(
        f"second approval needed: above the threshold of {format_minor(threshold, currency)}"
    )
    return True


def add_to_prior(prior: PriorRefunds, quote: RefundQuote) -> PriorRefunds:
    """The order's prior refunds once `quote` is granted."""
    quantities = dict(prior.line_quantities)
    amounts = dict(prior.line_amounts)
    for line in quote.lines:
        quantities[line.line_id] = quantities.get(line.line_id, 0) + line.quantity
        amounts[line.line_id] = amounts.get(line.line_id, 0) + line.amount
    return PriorRefunds(
        line_quantities=quantities,
        line_amounts=amounts,
        shipping_amount=prior.shipping_amount + quote.shipping_amount,
        total_amount=prior.total_amount + quote.total,
    )


def _refund_lines(
    order: OrderSnapshot, prior: PriorRefunds, requested: list[RequestedLine]
) -> list[LineRefund]:
    if not requested:
        raise RefundRuleError("empty_request", "a refund needs at least one line", "lines")
    seen: set[str] = set()
    result: list[LineRefund] = []
    for index, wanted in enumerate(requested):
        at = f"lines[{index}]"
        try:
            line = order.line(wanted.line_id)
        except KeyError:
            raise RefundRuleError(
                "unknown_line",
                f"order {order.order_id} has no line {wanted.line_id!r}",
                f"{at}.line_id",
            ) from None
        if wanted.line_id in seen:
            raise RefundRuleError(
                "duplicate_line", f"line {wanted.line_id!r} is listed twice", f"{at}.line_id"
            )
        seen.add(wanted.line_id)
        if wanted.quantity <= 0:
            raise RefundRuleError(
                "non_positive_quantity",
                f"line {wanted.line_id!r}: quantity must be at least 1, got {wanted.quantity}",
                f"{at}.quantity",
            )
        done = prior.quantity_of(line.line_id)
        available = line.quantity - done
        if wanted.quantity > available:
            raise RefundRuleError(
                "quantity_exceeds_available",
                f"line {wanted.line_id!r}: {wanted.quantity} requested but only "
                f"{max(available, 0)} of {line.quantity} left to refund",
                f"{at}.quantity",
            )
        amount = line_share(line, done, wanted.quantity)
        result.append(LineRefund(line_id=line.line_id, quantity=wanted.quantity, amount=amount))
    return result


def _completes_order(order: OrderSnapshot, prior: PriorRefunds, lines: list[LineRefund]) -> bool:
    now = {line.line_id: line.quantity for line in lines}
    return all(
        prior.quantity_of(line.line_id) + now.get(line.line_id, 0) >= line.quantity
        for line in order.lines
    )


def _shipping(
    order: OrderSnapshot,
    prior: PriorRefunds,
    request: RefundRequest,
    policy: RefundPolicy,
    completes: bool,
    notes: list[str],
) -> int:
    """Before shipment, shipping goes back with the ticket that completes the order; after
    shipment, only when a line's reason is the merchant's fault (policy switch). Never more than
    once in all."""
    faults = [
        (line.line_id, reason)
        for line in request.lines
        if is_merchant_fault(reason := request.reason_of(line.line_id))
    ]
    if order.shipping_fee == 0:
        return 0
    left = max(0, order.shipping_fee - prior.shipping_amount)
    if left == 0:
        why = "shipping not refunded: an earlier ticket refunded it"
    elif not order.is_shipped:
        if completes:
            notes.append("refund includes shipping: this ticket completes the unshipped order")
            return left
        why = "shipping not refunded yet: it goes back with the refund completing the order"
    elif not faults:
        why = "shipping not refunded: buyer-fault reason after shipment"
    elif not policy.refund_shipping_on_merchant_fault:
        why = "shipping not refunded: the merchant's policy keeps it after shipment"
    else:
        own = [
            f"line {line_id}: {reason}"
            for line_id, reason in faults
            if reason != request.reason_code
        ]
        notes.append(
            "shipping refunded: merchant-fault reason" + (f" ({', '.join(own)})" if own else "")
        )
        return left
    notes.append(why)
    return 0


def _fee_cap(request: RefundRequest, lines: list[LineRefund], maximum: int) -> int:
    """A fee only on what the buyer's own reasons return (SPEC §4): the whole refund when every
    line is of a buyer-fault reason, else only the buyer-fault lines (shipping is then the
    merchant's fault), and nothing when none is."""
    merchant = {x.line_id for x in lines if is_merchant_fault(request.reason_of(x.line_id))}
    if not merchant:
        return maximum
    return sum(line.amount for line in lines if line.line_id not in merchant)


def _service_fee(
    order: OrderSnapshot, request: RefundRequest, buyer_fault: int, notes: list[str]
) -> int:
    fee = request.service_fee
    if fee < 0:
        raise RefundRuleError(
            "service_fee_out_of_range",
            f"service fee must not be negative, got {fee}",
            "service_fee",
        )
    own_reasons = any(line.reason_code is not None for line in request.lines)
    # Nothing left of a buyer-fault line to take a fee from is a fee out of range, not this.
    merchant_only = all(is_merchant_fault(request.reason_of(x.line_id)) for x in request.lines)
    if fee > 0 and merchant_only:
        raise RefundRuleError(
            "service_fee_not_allowed",
            "no service fee: every line's reason is the merchant's fault"
            if own_reasons
            else f"no service fee for a merchant-fault reason ({request.reason_code})",
            "service_fee",
        )
    if fee > buyer_fault:
        raise RefundRuleError(
            "service_fee_out_of_range",
            f"service fee {format_minor(fee, order.currency)} exceeds the refund of "
            f"{format_minor(buyer_fault, order.currency)}"
            + (" on the lines of buyer-fault reasons" if own_reasons else ""),
            "service_fee",
        )
    if fee:
        notes.append(f"service fee of {format_minor(fee, order.currency)} deducted")
    return fee


def _requested_total(
    order: OrderSnapshot, request: RefundRequest, available: int, notes: list[str]
) -> int:
    asked = request.requested_amount
    if asked is None:
        return available
    if asked < 0:
        raise RefundRuleError(
            "requested_amount_negative",
            f"requested amount must not be negative, got {asked}",
            "requested_amount",
        )
    if asked > available:
        raise RefundRuleError(
            "requested_amount_exceeds_maximum",
            f"requested {format_minor(asked, order.currency)} but at most "
            f"{format_minor(available, order.currency)} can be refunded",
            "requested_amount",
        )
    if asked < available:
        notes.append(
            f"refund set to {format_minor(asked, order.currency)} of "
            f"{format_minor(available, order.currency)} available"
        )
    return asked


def cap_to_payment(order: OrderSnapshot, prior: PriorRefunds, total: int, notes: list[str]) -> int:
    """Over all tickets, refunds never exceed what was paid."""
    remaining = max(0, order.payment.paid_total - prior.total_amount)
    if total <= remaining:
        return total
    if remaining == 0:
        raise RefundRuleError(
            "nothing_left_to_refund",
            f"the payment of {format_minor(order.payment.paid_total, order.currency)} "
            "has already been refunded in full",
        )
    notes.append(
        f"capped at what remains of the payment: {format_minor(remaining, order.currency)}"
    )
    return remaining
