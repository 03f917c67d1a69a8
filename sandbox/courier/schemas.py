"""The courier's wire format: parcels and their events, control requests, webhook bodies."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["picked_up", "in_transit", "delivered", "exception", "lost"]
FINAL_STATUSES: frozenset[str] = frozenset({"delivered", "lost"})

DEFAULT_DESCRIPTIONS: dict[str, str] = {
    "picked_up": "parcel picked up from the sender",
    "in_transit": "parcel left the sorting centre",
    "delivered": "parcel delivered and signed for",
    "exception": "delivery attempt failed",
    "lost": "parcel reported lost",
}


def from_unix(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class EventObject(BaseModel):
    event_id: str
    tracking_no: str
    status: Status
    description: str
    location: str | None
    occurred_at: datetime

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> EventObject:
        return cls(
            event_id=row["event_id"],
            tracking_no=row["tracking_no"],
            status=row["status"],
            description=row["description"],
            location=row["location"],
            occurred_at=from_unix(row["occurred_at"]),
        )


class ParcelObject(BaseModel):
    object: Literal["parcel"] = "parcel"
    tracking_no: str
    carrier: str
    status: Status
    events: list[EventObject]
    created_at: datetime
    updated_at: datetime


class AddEventRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Status
    description: str | None = Field(default=None, max_length=500)
    location: str | None = Field(default=None, max_length=200)
    # The parcel's carrier code; needed only for a parcel's first event (default: the first
    # configured carrier).
    carrier: str | None = Field(default=None, max_length=16)


class AutopilotRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    carrier: str | None = Field(default=None, max_length=16)
    # Seconds before picked_up, then in_transit, then delivered (each after the one before).
    delays: list[float] | None = Field(default=None, min_length=3, max_length=3)


class PlanObject(BaseModel):
    tracking_no: str
    carrier: str
    status: Status
    due_at: datetime


class DeliveryObject(BaseModel):
    event_id: str
    tracking_no: str
    carrier: str
    attempts: int
    delivered_at: datetime | None
    last_error: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> DeliveryObject:
        return cls(
            event_id=row["event_id"],
            tracking_no=row["tracking_no"],
            carrier=row["carrier"],
            attempts=row["attempts"],
            delivered_at=None if row["delivered_at"] is None else from_unix(row["delivered_at"]),
            last_error=row["last_error"],
        )


class WebhookBody(BaseModel):
    """What each webhook delivery POSTs: one event, in a list so a batch could use it too."""

    carrier: str
    events: list[EventObject]
