"""What workflows and activities exchange: activity names and payloads.

Pure pydantic and domain types only, so workflow code can import it without pulling in I/O.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from domain.tickets import Actor, TicketStatus, TicketType

# Activity names, so workflows call them by name and never import the implementations.
RECORD_TRANSITION = "record_transition"
GRANT_REFUND = "grant_refund"
EXECUTE_REFUND = "execute_refund"
CHECK_REFUND = "check_refund"
SETTLE_REFUND = "settle_refund"
VOID_GRANT = "void_grant"
ASSESS_RISK = "assess_risk"
TRACK_PARCEL = "track_parcel"
DELIVER_NOTIFICATIONS = "deliver_notifications"


class TicketPolicy(BaseModel):
    """The policy a ticket was opened under; it never changes for that ticket."""

    version: str
    merchant_review: timedelta
    buyer_after_rejection: timedelta
    refund_settlement: timedelta
    refund_status_poll: timedelta
    second_approval_threshold: int
    refund_shipping_on_merchant_fault: bool = True
    # Defaults of SPEC §3, so payloads of tickets opened before these existed still decode.
    review_reminders: list[timedelta] = Field(
        default_factory=lambda: [timedelta(hours=24), timedelta(hours=2)]
    )
    buyer_return: timedelta = timedelta(days=7)
    return_delivery: timedelta = timedelta(days=15)
    warehouse_checkin: timedelta = timedelta(days=10)
    resolve_inspection: timedelta = timedelta(hours=48)
    reship: timedelta = timedelta(hours=48)
    confirm_receipt: timedelta = timedelta(days=10)


class Reopening(BaseModel):
    """A ticket whose workflow had ended, started again because its refund came back
    (`refund.reversed` after success): where its record stood, and the refund reversed."""

    status: TicketStatus
    version: int
    seq: int
    refund_seq: int
    refunded_amount: int
    refund: RefundState
    # The reversed refund's amount, owed again.
    amount: int
    # The reversed refund's terms, so support can send the same refund again.
    service_fee: int = 0
    requested_amount: int | None = None
    lines: dict[str, int] | None = None
    destination: RefundDestination | None = None


class TicketInput(BaseModel):
    ticket_no: str
    order_id: str
    buyer_id: str
    merchant_id: str
    type: TicketType
    order_shipped: bool
    currency: str
    quoted_amount: int
    reason_code: str
    lines: dict[str, int]
    policy: TicketPolicy
    opened_by: Actor
    opened_at: datetime
    order_delivered: bool = False
    requested_amount: int | None = None
    reopened: Reopening | None = None


class TicketResult(BaseModel):
    ticket_no: str
    status: TicketStatus
    refunded_amount: int


class ShipmentRecord(BaseModel):
    direction: Literal["return", "replacement"]
    carrier: str
    tracking_no: str
    shipped_at: datetime
    delivered_at: datetime | None = None
    status: str = "shipped"


class InspectedLine(BaseModel):
    line_id: str
    accepted: int = Field(ge=0)
    rejected: int = Field(ge=0)


class InspectionRecord(BaseModel):
    warehouse_id: str | None
    inspector_id: str | None
    lines: list[InspectedLine]
    notes: str = ""
    photos: list[str] = Field(default_factory=list)
    passed: bool
    at: datetime


class Transition(BaseModel):
    """One step of a ticket: written to the read model and the timeline under (ticket_no, seq)."""

    ticket_no: str
    seq: int
    version: int
    at: datetime
    actor_role: Actor
    actor_id: str | None = None
    event: str
    from_status: TicketStatus | None
    to_status: TicketStatus
    reason: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    next_actor: Actor | None = None
    deadline_at: datetime | None = None
    on_timeout: str | None = None
    granted_amount: int | None = None
    warehouse_id: str | None = None
    service_fee: int | None = None
    escalated: bool | None = None
    shipment: ShipmentRecord | None = None
    inspection: InspectionRecord | None = None


class RefundDestination(BaseModel):
    """Where a refund goes (SPEC §4): `original`, `balance`, `bank_transfer` or `coupon`.

    `details` holds the bank account of a transfer (`holder_name`, `iban`) or the currency of a
    balance credit (`currency`), as the API validated them."""

    kind: str = "original"
    details: dict[str, Any] | None = None


class GrantRequest(BaseModel):
    ticket_no: str
    refund_seq: int
    idempotency_key: str
    service_fee: int = 0
    # A decided amount below the maximum (buyer's request, partial refund, arbitration).
    requested_amount: int | None = None
    # Quantities actually refunded when they differ from the ticket's (inspection).
    lines: dict[str, int] | None = None
    # Another destination than the ticket's (support's retry, the fallback to balance).
    destination: RefundDestination | None = None


class Grant(BaseModel):
    """What we owe for one refund, recorded before any money moves."""

    ticket_no: str
    refund_seq: int
    idempotency_key: str
    currency: str
    amount: int
    shipping_amount: int
    needs_second_approval: bool
    notes: list[str]
    breakdown: dict[str, Any]
    destination: str = "original"


class RefundExecution(BaseModel):
    ticket_no: str
    idempotency_key: str


class RefundState(BaseModel):
    """The provider's view of one refund, as last seen."""

    idempotency_key: str
    provider: str
    provider_refund_id: str | None
    status: str
    failure_reason: str | None = None
    # The provider's stable refusal code (e.g. `payment_too_old`), when it refused outright.
    failure_code: str | None = None
    destination: str = "original"


class PaymentSignal(BaseModel):
    """A verified provider webhook, forwarded to the ticket by the API."""

    event_id: str
    idempotency_key: str
    provider_refund_id: str
    status: str
    failure_reason: str | None = None


class Settlement(BaseModel):
    ticket_no: str
    idempotency_key: str
    status: str
    failure_reason: str | None = None
    source: str


class ActorAction(BaseModel):
    """What every actor action carries; the API fills in who acts."""

    actor: Actor = Actor.support
    actor_id: str | None = None
    expected_version: int | None = None
    note: str = ""


class SecondApproval(ActorAction):
    """Support's decision on a refund above the second-approval threshold."""

    approve: bool


class RetryRefund(ActorAction):
    """Support sends a failed refund again (a new attempt under a new idempotency key)."""

    destination: str | None = None
    destination_details: dict[str, Any] | None = None


class Approve(ActorAction):
    service_fee: int = Field(0, ge=0)
    warehouse_id: str | None = None


class Reject(ActorAction):
    reason_code: str


class Shipping(ActorAction):
    """The buyer's return parcel or the merchant's replacement."""

    carrier: str
    tracking_no: str


class Cancel(ActorAction):
    pass


class Escalate(ActorAction):
    reason: str


class Inspection(ActorAction):
    lines: list[InspectedLine]
    photos: list[str] = Field(default_factory=list)


class ResolveInspection(ActorAction):
    decision: Literal["partial_refund", "return_to_buyer"]
    amount: int | None = Field(None, ge=0)


class ConfirmReceipt(ActorAction):
    pass


class Arbitration(ActorAction):
    decision: Literal["refund", "partial_refund", "reject", "return_to_buyer"]
    amount: int | None = Field(None, ge=0)


class TrackingSignal(BaseModel):
    """A courier's tracking event for one of the ticket's parcels, forwarded by the API."""

    event_id: str
    tracking_no: str
    status: Literal["picked_up", "in_transit", "delivered", "exception", "lost"]
    at: datetime
    description: str = ""


class RiskRequest(BaseModel):
    ticket_no: str


class RiskAssessment(BaseModel):
    """The buyer's risk when a decision is due, with reasons in words (SPEC §5)."""

    level: Literal["low", "medium", "high"]
    reasons: list[str] = Field(default_factory=list)
    watchlisted: bool = False
    evidence_summary: dict[str, Any] | None = None


class ActionResult(BaseModel):
    status: TicketStatus
    version: int


class ParcelQuery(BaseModel):
    """Ask the courier's tracking API about one parcel (the fallback when webhooks stay away)."""

    ticket_no: str
    carrier: str
    tracking_no: str
    # Stop polling once the parcel has one of these statuses.
    until: list[str] = Field(default_factory=lambda: ["delivered", "lost"])


class ParcelStatus(BaseModel):
    """What the courier said, as tracking signals the workflow applies like webhook ones."""

    tracking_no: str
    events: list[TrackingSignal] = Field(default_factory=list)


class NotificationBatch(BaseModel):
    """Send what one recorded transition owes its recipients (planned with the transition)."""

    ticket_no: str
    seq: int


# `Reopening` names refund types defined further down: resolve them now, so that a worker decoding
# a ticket's input before it has built any contract itself finds every type complete.
Reopening.model_rebuild()
TicketInput.model_rebuild()
