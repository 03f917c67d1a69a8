"""The terms of a refund: what is asked, what was granted before, the policy, and the quote.

Pure data; `domain.refunds` computes a quote from them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from domain.money import CurrencyCode, MinorUnits, default_second_approval_threshold
from domain.reasons import ReasonCode

RefundRuleCode = Literal[
    "empty_request",
    "unknown_line",
    "duplicate_line",
    "quantity_exceeds_available",
    "non_positive_quantity",
    "service_fee_not_allowed",
    "service_fee_out_of_range",
    "requested_amount_exceeds_maximum",
    "requested_amount_negative",
    "nothing_left_to_refund",
]

Units = Annotated[int, Field(strict=True, gt=0)]


class RefundRuleError(ValueError):
    """A request the money rules refuse; `code` is stable, `field` points into the request."""

    def __init__(self, code: RefundRuleCode, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code: RefundRuleCode = code
        self.message = message
        self.field = field

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.code, self.message, self.field))


class RefundPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    refund_shipping_on_merchant_fault: bool = True
    second_approval_thresholds: dict[CurrencyCode, MinorUnits] = {}
    """Minor units per currency; a missing currency uses the default of 5,000.00."""

    def threshold_for(self, currency: str) -> int:
        threshold = self.second_approval_thresholds.get(currency)
        if threshold is None:
            return default_second_approval_threshold(currency)
        return threshold


class PriorRefunds(BaseModel):
    """What earlier tickets of the same order were granted."""

    model_config = ConfigDict(frozen=True)

    line_quantities: dict[str, MinorUnits] = {}
    line_amounts: dict[str, MinorUnits] = {}
    """Each line's computed share, before service fees and buyer-requested reductions."""
    shipping_amount: MinorUnits = 0
    total_amount: MinorUnits = 0
    """What was actually granted, after fees, requested amounts and the cap."""

    @classmethod
    def none(cls) -> Self:
        return cls()

    def quantity_of(self, line_id: str) -> int:
        return self.line_quantities.get(line_id, 0)


class RequestedLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    line_id: str
    quantity: StrictInt
    reason_code: ReasonCode | None = None
    """This line's own reason (a shirt too small, a mug broken); the request's otherwise."""


class RefundRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    lines: list[RequestedLine]
    reason_code: ReasonCode
    service_fee: StrictInt = 0
    requested_amount: StrictInt | None = None
    """The buyer asks for less than the maximum (refund only, after shipment)."""

    def reason_of(self, line_id: str) -> ReasonCode:
        for line in self.lines:
            if line.line_id == line_id and line.reason_code is not None:
                return line.reason_code
        return self.reason_code


class LineRefund(BaseModel):
    model_config = ConfigDict(frozen=True)

    line_id: str
    quantity: Units
    amount: MinorUnits


class RefundQuote(BaseModel):
    model_config = ConfigDict(frozen=True)

    currency: CurrencyCode
    lines: list[LineRefund]
    items_amount: MinorUnits
    shipping_amount: MinorUnits
    service_fee: MinorUnits
    maximum: MinorUnits
    """Items plus shipping, before the service fee and the buyer's requested amount."""
    total: MinorUnits
    """What will be refunded."""
    needs_second_approval: bool
    completes_order: bool
    """After this ticket every unit of every line has been refunded."""
    notes: list[str] = []
