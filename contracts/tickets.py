"""A ticket workflow's input and result."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from contracts.activities import RefundDestination, RefundState
from domain.tickets import Actor, TicketStatus, TicketType


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
