"""Couriers' tracking and label APIs behind one port: what a parcel went through, as courier
events, and return labels a buyer takes to a drop-off point."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from domain.text import StorableText

ParcelStatus = Literal["picked_up", "in_transit", "delivered", "exception", "lost"]


class CourierEvent(BaseModel):
    """One scan of one parcel; `event_id` is the courier's and stays the same on redelivery."""

    carrier: str = Field(max_length=32)
    event_id: StorableText = Field(min_length=1, max_length=64)
    tracking_no: StorableText = Field(min_length=1, max_length=64)
    status: ParcelStatus
    description: StorableText = Field("", max_length=2000)
    location: StorableText | None = Field(None, max_length=500)
    occurred_at: datetime


class LabelParty(BaseModel):
    """Who a return parcel comes from or goes to, as the courier prints it on the label."""

    name: str
    address: str


class ReturnLabel(BaseModel):
    """A label the courier issued: the parcel travels under `tracking_no`, and a drop-off point
    takes it in by scanning `dropoff_code`."""

    label_id: str
    carrier: str
    tracking_no: str
    dropoff_code: str
    # Absolute URL of the courier's own printable document, when it has one.
    document_url: str | None
    created_at: datetime


class CourierUnavailable(Exception):
    """Transient: network error, timeout, 5xx or 429. Asking again later may work."""


class CourierRefused(Exception):
    """Permanent: the courier refused the request (4xx other than 429). Asking again will not
    help."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message or code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class CourierClient(Protocol):
    name: str

    async def track(self, carrier: str, tracking_no: str) -> list[CourierEvent]:
        """The parcel's events, oldest first; empty while the courier does not know it yet."""
        ...

    async def create_label(
        self,
        carrier: str,
        reference: str,
        sender: LabelParty,
        recipient: LabelParty,
        idempotency_key: str,
    ) -> ReturnLabel:
        """A return label for a parcel from `sender` to `recipient`; the same key gives the same
        label."""
        ...


def carrier_code(carrier: str) -> str:
    """Buyers type `SF` or ` sf `; the port keys carriers by their lower-case code."""
    return carrier.strip().lower()
