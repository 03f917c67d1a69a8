"""What workflows and activities exchange: activity names and payloads.

Pure pydantic and domain types only, so workflow code can import it without pulling in I/O.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from domain.tickets import Actor, TicketStatus, TicketType

# Activity names, so workflows call them by name and never import the implementations.
RECORD_TRANSITION = "record_transition"
GRANT_REFUND = "grant_refund"
EXECUTE_REFUND = "execute_refund"
CHECK_REFUND = "check_refund"
SETTLE_REFUND = "settle_refund"
VOID_GRANT = "void_grant"


class TicketPolicy(BaseModel):
    """The policy a ticket was opened under; it never changes for that ticket."""

    version: str
    merchant_review: timedelta
    buyer_after_rejection: timedelta
    refund_settlement: timedelta
    refund_status_poll: timedelta
    second_approval_threshold: int
    refund_shipping_on_merchant_fault: bool = True


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


class TicketResult(BaseModel):
    ticket_no: str
    status: TicketStatus
    refunded_amount: int


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


class GrantRequest(BaseModel):
    ticket_no: str
    refund_seq: int
    idempotency_key: str


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


class SecondApproval(BaseModel):
    """Support's decision on a refund above the second-approval threshold."""

    approve: bool
    note: str = ""
    actor_id: str | None = None
    expected_version: int | None = None


class ActionResult(BaseModel):
    status: TicketStatus
    version: int
