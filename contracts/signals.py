"""External events the API forwards to a ticket's workflow as Signals."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from domain.tickets import RefundStatus


class PaymentSignal(BaseModel):
    """A verified provider webhook, forwarded to the ticket by the API."""

    event_id: str
    idempotency_key: str
    provider_refund_id: str
    status: RefundStatus
    failure_reason: str | None = None


class TrackingSignal(BaseModel):
    """A courier's tracking event for one of the ticket's parcels, forwarded by the API."""

    event_id: str
    tracking_no: str
    status: Literal["picked_up", "in_transit", "delivered", "exception", "lost"]
    at: datetime
    description: str = ""


class DifferencePayment(BaseModel):
    """The platform's word that the buyer paid a dearer replacement's difference."""

    reference: str
    amount: int
    currency: str
    paid_at: datetime
