"""Couriers' tracking APIs behind one port: what a parcel went through, as courier events."""

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


class CourierUnavailable(Exception):
    """Transient: network error, timeout, 5xx or 429. Asking again later may work."""


class CourierClient(Protocol):
    name: str

    async def track(self, carrier: str, tracking_no: str) -> list[CourierEvent]:
        """The parcel's events, oldest first; empty while the courier does not know it yet."""
        ...


def carrier_code(carrier: str) -> str:
    """Buyers type `SF` or ` sf `; the port keys carriers by their lower-case code."""
    return carrier.strip().lower()
