"""Request and response bodies of the ticket endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, HttpUrl, model_validator

from api.schemas.base import AwareDateTime, PositiveAmount, Quantity, RequestModel, Version
from api.schemas.messages import MessageView
from api.schemas.risk import RiskView
from domain.bank_accounts import BankAccount
from domain.events import TicketEvent
from domain.money import CurrencyCode
from domain.reasons import ReasonCode
from domain.tickets import Channel, Destination, RefundStatus, TicketType


class TicketLineBody(RequestModel):
    line_id: str = Field(min_length=1, max_length=64)
    quantity: Quantity
    reason_code: ReasonCode | None = Field(
        None,
        description="this line's own reason (a shirt too small, a mug broken in one parcel); "
        "the ticket's `reason_code` otherwise. Shipping and fees follow each line's reason",
    )
    replacement_sku: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="an exchange for another item (size, colour or product of the same "
        "merchant): its SKU in the merchant's catalogue (`PUT /v1/merchants/{id}/catalogue/"
        "{sku}`), at its price; the same item back when left out. A cheaper one refunds the "
        "difference, a dearer one is shipped once the buyer has paid the difference",
    )


class DestinationChoice(RequestModel):
    """Where a refund goes, with what that destination needs (SPEC §4)."""

    destination: Destination | None = None
    bank_account: BankAccount | None = Field(
        None, description="the buyer's account; required for `bank_transfer`, refused otherwise"
    )
    balance_currency: CurrencyCode | None = Field(
        None,
        description="for `balance`: credit the balance in this currency, converted at a "
        "recorded rate; the order's currency by default",
    )

    @model_validator(mode="after")
    def _details_fit_destination(self) -> DestinationChoice:
        if self.destination is Destination.bank_transfer and self.bank_account is None:
            raise ValueError("a bank_transfer refund needs bank_account")
        if self.bank_account is not None and self.destination is not Destination.bank_transfer:
            raise ValueError("bank_account goes with destination bank_transfer only")
        if self.balance_currency is not None and self.destination is not Destination.balance:
            raise ValueError("balance_currency goes with destination balance only")
        return self

    def destination_details(self) -> dict[str, Any] | None:
        if self.bank_account is not None:
            return self.bank_account.model_dump(mode="json")
        if self.balance_currency is not None:
            return {"currency": self.balance_currency}
        return None


class TicketCreate(DestinationChoice):
    order_id: str = Field(min_length=1, max_length=64)
    type: TicketType
    lines: list[TicketLineBody] = Field(min_length=1, max_length=100)
    reason_code: ReasonCode
    description: str = Field("", max_length=2000)
    evidence: list[HttpUrl] = Field(default_factory=list, max_length=20)
    requested_amount: PositiveAmount | None = Field(
        None, description="minor units; at most the quote, which is the default"
    )
    destination: Destination | None = Field(
        Destination.original, description="where the refund goes; the original payment by default"
    )
    channel: Channel | None = Field(
        None,
        description="where the ticket came from; set by support or the platform's buyer token "
        "(app by default), `api` for a buyer's own key",
    )


class TicketSummary(BaseModel):
    ticket_no: str
    order_id: str
    buyer_id: str
    merchant_id: str
    type: str
    status: str
    reason_code: str
    currency: str
    currency_exponent: int = Field(
        description="digits of the amounts' minor units: 2 for CNY (12345 is 123.45), 0 for JPY"
    )
    quoted_amount: int
    granted_amount: int | None
    refunded_amount: int
    next_actor: str | None
    deadline_at: datetime | None
    on_timeout: str | None
    escalated: bool
    warehouse_id: str | None
    channel: str = Field(description="where the ticket came from: app, web, mini_program, ...")
    version: int
    created_at: datetime
    updated_at: datetime


class TimelineView(BaseModel):
    seq: int
    at: datetime
    actor_role: str
    actor_id: str | None
    event: TicketEvent
    from_status: str | None
    to_status: str
    reason: str
    deadline_at: datetime | None
    data: dict[str, Any]


class RefundView(BaseModel):
    seq: int
    amount: int
    currency: str
    destination: str
    destination_details: dict[str, Any] | None = Field(
        description="the bank account (IBAN masked) or the balance currency"
    )
    conversion: dict[str, Any] | None = Field(
        description="a balance credit in another currency: rate, its source and date, amounts"
    )
    provider: str | None
    provider_refund_id: str | None
    idempotency_key: str
    status: RefundStatus
    failure_reason: str | None
    status_history: list[dict[str, Any]]
    created_at: datetime


class ShipmentView(BaseModel):
    direction: str
    carrier: str
    tracking_no: str
    shipped_at: datetime
    delivered_at: datetime | None
    status: str


class ReturnLabelView(BaseModel):
    """The prepaid return label the courier issued on approval: the buyer prints it (`url`, a
    PDF) or shows its QR code at a drop-off point, and types no tracking number."""

    carrier: str
    tracking_no: str
    dropoff_code: str = Field(description="what the label's QR code holds")
    issued_at: datetime
    url: str = Field(description="the label as a PDF: `GET /v1/tickets/{id}/return-label`")


class TrackingEventView(BaseModel):
    carrier: str
    tracking_no: str
    status: str
    description: str
    location: str | None
    occurred_at: datetime
    source: str


class InspectionView(BaseModel):
    warehouse_id: str | None
    inspector_id: str | None
    lines: list[dict[str, Any]]
    notes: str
    photos: list[str]
    passed: bool
    at: datetime


class RulesView(BaseModel):
    """The merchant's rules on one ticket: the version it opened under, the rule that fired (or
    none), the rules passed over, and the facts the decision read."""

    version: str | None
    rules: list[dict[str, Any]]
    decision: dict[str, Any] | None
    passed_over: list[dict[str, Any]]
    facts: dict[str, Any] | None


class ReplacementView(BaseModel):
    line_id: str
    quantity: int
    original_sku: str
    original_unit_price: int
    returned_amount: int = Field(description="what the buyer paid for the units sent back")
    sku: str
    title: str
    unit_price: int
    replacement_amount: int = Field(description="the replacement's price times the units")
    difference: int = Field(description="positive: the buyer pays it; negative: refunded")


class DifferencePaymentView(BaseModel):
    reference: str
    amount: int
    currency: str
    paid_at: datetime


class ExchangeView(BaseModel):
    """An exchange for other items: the replacements, at their catalogue price, and the price
    difference, exact in minor units of `currency`."""

    currency: str
    lines: list[ReplacementView]
    difference: int = Field(
        description="the lines together: positive, the buyer pays; negative, refunded"
    )
    direction: Literal["refund", "buyer_pays", "none"]
    refund: int = Field(description="what a cheaper replacement refunds, before a service fee")
    due: int = Field(description="what the buyer pays for a dearer replacement")
    payment: DifferencePaymentView | None = Field(
        description="the platform's confirmation that the buyer paid `due`, once it is applied"
    )


class DifferencePaymentBody(RequestModel):
    """The platform confirms that the buyer paid a dearer replacement's price difference."""

    reference: str = Field(min_length=1, max_length=128, description="the platform's payment id")
    amount: PositiveAmount = Field(description="minor units; exactly the ticket's `exchange.due`")
    currency: CurrencyCode
    paid_at: AwareDateTime | None = Field(None, description="when the buyer paid; now by default")


class TicketDetail(TicketSummary):
    """A part the caller's role does not see is `null` (README, "Who sees what")."""

    description: str | None
    evidence: list[str] | None
    destination: str | None
    destination_details: dict[str, Any] | None = Field(
        description="the bank account (IBAN masked) or the balance currency; buyer and support"
    )
    requested_amount: int | None
    lines: list[TicketLineBody]
    breakdown: dict[str, Any] | None
    exchange: ExchangeView | None = Field(
        description="an exchange for other items: replacements, prices and the difference"
    )
    policy: dict[str, Any] | None
    service_fee: int
    refunds: list[RefundView] | None
    shipments: list[ShipmentView] | None
    return_label: ReturnLabelView | None = Field(
        description="the prepaid return label, once the courier issued it"
    )
    tracking_events: list[TrackingEventView] | None
    inspection: InspectionView | None
    messages: list[MessageView] | None = Field(
        description="for those who may read `GET /v1/tickets/{id}/messages` only"
    )
    timeline: list[TimelineView] | None
    risk: RiskView | None = Field(description="shown to the merchant and support only")
    rules: RulesView | None = Field(
        description="the merchant's rules the ticket opened under and what they decided; "
        "merchant and support only"
    )
    allowed_actions: list[str] = Field(
        description="actions the caller can take now, named as in `POST /v1/tickets/{id}/<action>`"
    )


class TicketPage(BaseModel):
    items: list[TicketSummary]
    next_cursor: str | None


class SecondApprovalBody(RequestModel):
    decision: Literal["approve", "decline"]
    note: str = Field("", max_length=1000)
    expected_version: Version | None = None
