"""Activity names and the payloads workflows and activities exchange.

Pure pydantic and domain types only, so workflow code can import them without pulling in I/O.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from contracts.signals import TrackingSignal
from domain.events import TicketEvent
from domain.tickets import Actor, RefundStatus, TicketStatus

# Activity names, so workflows call them by name and never import the implementations.
RECORD_TRANSITION = "record_transition"
GRANT_REFUND = "grant_refund"
EXECUTE_REFUND = "execute_refund"
CHECK_REFUND = "check_refund"
SETTLE_REFUND = "settle_refund"
VOID_GRANT = "void_grant"
ASSESS_RISK = "assess_risk"
TRACK_PARCEL = "track_parcel"
# The failure type of a poll that found the parcel still travelling: its retry is the next poll.
PARCEL_TRAVELLING = "ParcelTravelling"
DELIVER_NOTIFICATIONS = "deliver_notifications"
ISSUE_RETURN_LABEL = "issue_return_label"
# The failure type of a label the courier will not issue (no delivery address, refused address):
# asking again will not help, the buyer ships another way.
RETURN_LABEL_REFUSED = "ReturnLabelRefused"

# The failure type of an activity whose data the database refuses (a NUL, a number out of range):
# no retry can store it, so it fails at once instead of retrying for ever.
UNSTORABLE_DATA = "UnstorableData"


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


class Settlement(BaseModel):
    ticket_no: str
    idempotency_key: str
    status: RefundStatus
    failure_reason: str | None = None
    source: str


class Transition(BaseModel):
    """One step of a ticket: written to the read model and the timeline under (ticket_no, seq)."""

    ticket_no: str
    seq: int
    version: int
    at: datetime
    actor_role: Actor
    actor_id: str | None = None
    event: TicketEvent
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
    # Evidence photos the buyer added at this step, appended to the ticket's.
    evidence: list[str] | None = None
    # The refund's final word that this step reports, booked in the same transaction.
    settlement: Settlement | None = None


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
    # A merchant rule's store-credit bonus: this share of a credit to the balance, on top.
    bonus_percent: int | None = None
    # The refund of a cheaper replacement's price difference (an exchange): no unit is refunded.
    price_difference: bool = False


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
    # Store credit given on top of a refund to the balance (a merchant rule's bonus); it is the
    # merchant's gift, not a refund of the payment, so the order's caps do not count it.
    bonus_amount: int = 0
    # The currency the balance is credited in (the order's, unless converted).
    bonus_currency: str | None = None


class RefundExecution(BaseModel):
    ticket_no: str
    idempotency_key: str


class RefundState(BaseModel):
    """The provider's view of one refund, as last seen."""

    idempotency_key: str
    provider: str
    provider_refund_id: str | None
    status: RefundStatus
    failure_reason: str | None = None
    # The provider's stable refusal code (e.g. `payment_too_old`), when it refused outright.
    failure_code: str | None = None
    destination: str = "original"


class RiskRequest(BaseModel):
    ticket_no: str


class RiskAssessment(BaseModel):
    """The buyer's risk when a decision is due, with reasons in words (SPEC §5)."""

    level: Literal["low", "medium", "high"]
    reasons: list[str] = Field(default_factory=list)
    watchlisted: bool = False
    evidence_summary: dict[str, Any] | None = None
    # The buyer's refunded tickets in the history window (90 days), this one left out.
    refunded_tickets: int = 0


class ParcelQuery(BaseModel):
    """Ask the courier's tracking API about one parcel (the fallback when webhooks stay away)."""

    ticket_no: str
    carrier: str
    tracking_no: str
    # Stop polling once the parcel has one of these statuses.
    until: list[str] = Field(default_factory=lambda: ["delivered", "lost"])
    # Ask once per attempt and leave the waiting to Temporal's retries (each retry is the next
    # poll), so no worker slot is held while the parcel travels. False: the whole poll runs in one
    # attempt, as for tickets whose parcel was shipped before.
    ask_once: bool = False


class LabelRequest(BaseModel):
    """Ask the courier for the return parcel's label, from the order's delivery address to the
    ticket's warehouse (the merchant's first one when the approval named none)."""

    ticket_no: str


class IssuedLabel(BaseModel):
    """The courier's label: the parcel is followed from its tracking number."""

    label_id: str
    carrier: str
    tracking_no: str
    dropoff_code: str
    issued_at: datetime


class ParcelStatus(BaseModel):
    """What the courier said, as tracking signals the workflow applies like webhook ones."""

    tracking_no: str
    events: list[TrackingSignal] = Field(default_factory=list)


class NotificationBatch(BaseModel):
    """Send what one recorded transition owes its recipients (planned with the transition)."""

    ticket_no: str
    seq: int
