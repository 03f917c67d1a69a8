"""The courier's wire format: parcels and their events, return labels, control requests, webhook
bodies."""

from __future__ import annotations

import hashlib
import json
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


class LabelParty(BaseModel):
    """Who a label's parcel comes from or goes to, as printed on the label."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    address: str = Field(min_length=1, max_length=1000)


class CreateLabelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The carrier that will carry the parcel (default: the first configured carrier).
    carrier: str | None = Field(default=None, max_length=16)
    # The merchant's own reference, e.g. the ticket number; printed on the label.
    reference: str = Field(min_length=1, max_length=64)
    sender: LabelParty
    recipient: LabelParty

    def fingerprint(self, carrier: str) -> str:
        """Identifies the request's content, with the carrier it resolved to, to tell a replay
        from a reused idempotency key: leaving the carrier out replays naming the default one."""
        content = {**self.model_dump(mode="json"), "carrier": carrier}
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


class LabelObject(BaseModel):
    """A return label: the tracking number the parcel will travel under, and the code a drop-off
    point scans to take it in. `document_url` is the printable label, relative to the API."""

    object: Literal["label"] = "label"
    label_id: str
    carrier: str
    tracking_no: str
    dropoff_code: str
    reference: str
    sender: LabelParty
    recipient: LabelParty
    created_at: datetime
    document_url: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> LabelObject:
        return cls(
            label_id=row["label_id"],
            carrier=row["carrier"],
            tracking_no=row["tracking_no"],
            dropoff_code=row["dropoff_code"],
            reference=row["reference"],
            sender=LabelParty.model_validate_json(row["sender"]),
            recipient=LabelParty.model_validate_json(row["recipient"]),
            created_at=from_unix(row["created_at"]),
            document_url=f"/v1/labels/{row['label_id']}/document",
        )


class LabelOutageRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # How many of the next label requests answer 503; 0 ends an outage.
    requests: int = Field(ge=0, le=10_000, strict=True)


class LabelOutageObject(BaseModel):
    """How many of the next label requests will still answer 503."""

    requests: int
