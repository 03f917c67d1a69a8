"""Webhook deliveries: one per event, kept until the receiver answers 2xx, across restarts.
Redeliveries send the same body, so the same event id."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from sandbox.courier.schemas import DeliveryObject, EventObject, WebhookBody

# Undelivered, and no older undelivered event of the same parcel waits before it.
_DELIVERABLE = (
    "d.delivered_at IS NULL AND NOT EXISTS (SELECT 1 FROM deliveries AS earlier"
    " WHERE earlier.tracking_no = d.tracking_no AND earlier.delivered_at IS NULL"
    " AND earlier.seq < d.seq)"
)


@dataclass(frozen=True)
class PendingDelivery:
    event_id: str
    carrier: str
    body: bytes
    attempts: int


def add(conn: sqlite3.Connection, carrier: str, event: EventObject, now: float) -> None:
    payload = WebhookBody(carrier=carrier, events=[event]).model_dump_json()
    conn.execute(
        "INSERT INTO deliveries (event_id, tracking_no, carrier, payload, next_attempt_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (event.event_id, event.tracking_no, carrier, payload, now),
    )


def due(conn: sqlite3.Connection, now: float, limit: int = 50) -> list[PendingDelivery]:
    """Per parcel only the oldest undelivered event, so a receiver hears scans in order."""
    rows = conn.execute(
        f"SELECT event_id, carrier, payload, attempts FROM deliveries AS d WHERE {_DELIVERABLE}"
        " AND d.next_attempt_at <= ? ORDER BY d.seq LIMIT ?",
        (now, limit),
    ).fetchall()
    return [
        PendingDelivery(row["event_id"], row["carrier"], row["payload"].encode(), row["attempts"])
        for row in rows
    ]


def next_attempt_at(conn: sqlite3.Connection) -> float | None:
    query = f"SELECT MIN(d.next_attempt_at) AS at FROM deliveries AS d WHERE {_DELIVERABLE}"
    row = conn.execute(query).fetchone()
    return None if row["at"] is None else float(row["at"])


def delivered(conn: sqlite3.Connection, event_id: str, now: float) -> None:
    conn.execute(
        "UPDATE deliveries SET attempts = attempts + 1, delivered_at = ?, last_error = NULL"
        " WHERE event_id = ?",
        (now, event_id),
    )


def failed(conn: sqlite3.Connection, event_id: str, retry_at: float, error: str) -> None:
    conn.execute(
        "UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?"
        " WHERE event_id = ?",
        (retry_at, error[:500], event_id),
    )


def of_parcel(conn: sqlite3.Connection, tracking_no: str) -> list[DeliveryObject]:
    rows = conn.execute(
        "SELECT * FROM deliveries WHERE tracking_no = ? ORDER BY seq", (tracking_no,)
    ).fetchall()
    return [DeliveryObject.from_row(row) for row in rows]
