"""Exchange for another item (SPEC §6): what the replacement costs against what goes back.

Pure and deterministic. The replacement is priced from the merchant's catalogue; the line's
discount carries over to it, so the difference is the list prices' difference times the units
(a same-priced size swap costs nothing whatever coupon the buyer used). A cheaper replacement
refunds the difference, never more than the buyer paid for the units sent back; a dearer one is
paid by the buyer before the merchant ships it. Lines of one ticket net out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from domain.money import CurrencyCode, MinorUnits, format_minor
from domain.orders import OrderSnapshot
from domain.refund_terms import PriorRefunds, RefundPolicy, RefundQuote, RequestedLine
from domain.refunds import cap_to_payment, line_share, needs_second_approval

Direction = Literal["refund", "buyer_pays", "none"]


class Offer(BaseModel):
    """An item the merchant sells, as its catalogue lists it."""

    model_config = ConfigDict(frozen=True)

    sku: str
    title: str
    currency: CurrencyCode
    unit_price: MinorUnits
    available: bool = True


class ExchangeError(ValueError):
    """A replacement that cannot be offered; `code` is stable, `field` points into the request."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class ReplacementLine(BaseModel):
    """One order line exchanged for another item, with what each side is worth."""

    model_config = ConfigDict(frozen=True)

    line_id: str
    quantity: StrictInt
    original_sku: str
    original_unit_price: MinorUnits
    returned_amount: MinorUnits
    """What the buyer paid for the units sent back (their exact share of the line)."""
    sku: str
    title: str
    unit_price: MinorUnits
    replacement_amount: MinorUnits
    """The replacement's list price times the units."""
    difference: StrictInt
    """Positive: the buyer pays it; negative: refunded (never more than `returned_amount`)."""


class ExchangeTerms(BaseModel):
    """The replacements of a ticket and the difference they make, in the order's currency."""

    model_config = ConfigDict(frozen=True)

    currency: CurrencyCode
    lines: list[ReplacementLine] = Field(min_length=1)
    difference: StrictInt
    """The lines' differences together: positive, the buyer pays; negative, refunded."""

    @property
    def direction(self) -> Direction:
        if self.difference > 0:
            return "buyer_pays"
        return "refund" if self.difference < 0 else "none"

    @property
    def refund(self) -> int:
        return max(0, -self.difference)

    @property
    def due(self) -> int:
        return max(0, self.difference)

    def describe(self) -> str:
        """`2 x TEE-M for TEE-L (Tee, large) at CNY 120.00 each`, per line."""
        return "; ".join(
            f"{line.quantity} x {line.original_sku} for {line.sku} ({line.title}) at "
            f"{format_minor(line.unit_price, self.currency)} each"
            for line in self.lines
        )


def exchange_terms(
    order: OrderSnapshot,
    prior: PriorRefunds,
    requested: Sequence[RequestedLine],
    replacements: Mapping[str, Offer],
) -> ExchangeTerms | None:
    """The terms of exchanging the requested lines for the offers named per line id; None when
    no line asks for another item. The lines themselves are checked by `domain.eligibility`."""
    if not replacements:
        return None
    lines: list[ReplacementLine] = []
    for index, wanted in enumerate(requested):
        offer = replacements.get(wanted.line_id)
        if offer is None:
            continue
        field = f"lines[{index}].replacement_sku"
        if not offer.available:
            raise ExchangeError(
                "replacement_unavailable",
                f"the merchant does not offer {offer.sku} at the moment",
                field,
            )
        if offer.currency != order.currency:
            raise ExchangeError(
                "replacement_currency_mismatch",
                f"{offer.sku} is priced in {offer.currency}, the order was paid in "
                f"{order.currency}",
                field,
            )
        line = order.line(wanted.line_id)
        returned = line_share(line, prior.quantity_of(line.line_id), wanted.quantity)
        difference = (offer.unit_price - line.unit_price) * wanted.quantity
        lines.append(
            ReplacementLine(
                line_id=line.line_id,
                quantity=wanted.quantity,
                original_sku=line.sku,
                original_unit_price=line.unit_price,
                returned_amount=returned,
                sku=offer.sku,
                title=offer.title,
                unit_price=offer.unit_price,
                replacement_amount=offer.unit_price * wanted.quantity,
                difference=max(difference, -returned),
            )
        )
    return ExchangeTerms(
        currency=order.currency, lines=lines, difference=sum(x.difference for x in lines)
    )


def quote_difference(
    order: OrderSnapshot,
    prior: PriorRefunds,
    terms: ExchangeTerms,
    service_fee: int,
    policy: RefundPolicy,
) -> RefundQuote:
    """The refund of a cheaper replacement's difference, less the merchant's fee, within what is
    left of the payment. No unit counts as refunded: the goods were exchanged, not bought back."""
    currency = order.currency
    refund = terms.refund
    notes = [f"refund of the price difference {format_minor(refund, currency)}: {terms.describe()}"]
    fee = min(max(service_fee, 0), refund)
    if fee:
        notes.append(f"service fee of {format_minor(fee, currency)} deducted")
    total = cap_to_payment(order, prior, refund - fee, notes)
    second = needs_second_approval(currency, total, policy, notes)
    return RefundQuote(
        currency=currency,
        lines=[],
        items_amount=refund,
        shipping_amount=0,
        service_fee=fee,
        maximum=refund,
        total=total,
        needs_second_approval=second,
        completes_order=False,
        notes=notes,
    )
