"""The webhook outbox: an event is written in the same transaction as the refund or payout change
it reports, and stays until the receiver answers 2xx, across restarts. Retries reuse the event
id."""

from __future__ import annotations

import secrets
import sqlite3
from dataclasses import dataclass

from sandbox.payment_provider.schemas import PayoutObject, RefundObject, WebhookEvent

# Undelivered, and no older undelivered event of the same refund or payout waits before it.
_DELIVERABLE = (
    "e.delivered_at IS NULL AND NOT EXISTS (SELECT 1 FROM events AS earlier"
    " WHERE earlier.object_id = e.object_id AND earlier.delivered_at IS NULL"
    " AND earlier.seq < e.seq)"
)


@dataclass(frozen=True)
class PendingDelivery:
    id: str
    body: bytes
    attempts: int


def add(
    conn: sqlite3.Connection, event_type: str, subject: RefundObject | PayoutObject, now: float
) -> None:
    """Queue `event_type` (e.g. `payout.succeeded`) carrying the refund or payout as it is now."""
    event_id = f"evt_{secrets.token_hex(12)}"
    event = WebhookEvent.model_validate(
        {"id": event_id, "type": event_type, "created": int(now), "data": subject}
    )
    conn.execute(
        "INSERT INTO events (id, type, object_id, created, payload, next_attempt_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (event.id, event.type, subject.id, event.created, event.model_dump_json(), now),
    )


def due(conn: sqlite3.Connection, now: float, limit: int = 50) -> list[PendingDelivery]:
    """Undelivered events whose retry time came; per refund or payout, only the oldest undelivered
    one, so a receiver never hears `*.reversed` before the `*.succeeded` it follows."""
    rows = conn.execute(
        f"SELECT id, payload, attempts FROM events AS e WHERE {_DELIVERABLE}"
        " AND e.next_attempt_at <= ? ORDER BY e.seq LIMIT ?",
        (now, limit),
    ).fetchall()
    return [PendingDelivery(row["id"], row["payload"].encode(), row["attempts"]) for row in rows]


def next_attempt_at(conn: sqlite3.Connection) -> float | None:
    query = f"SELECT MIN(e.next_attempt_at) AS at FROM events AS e WHERE {_DELIVERABLE}"
    row = conn.execute(query).fetchone()
    return None if row["at"] is None else float(row["at"])


def delivered(conn: sqlite3.Connection, event_id: str, now: float) -> None:
    conn.execute(
        "UPDATE events SET attempts = attempts + 1, delivered_at = ?, last_error = NULL"
        " WHERE id = ?",
        (now, event_id),
    )


def failed(conn: sqlite3.Connection, event_id: str, retry_at: float, error: str) -> None:
    conn.execute(
        "UPDATE events SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?"
        " WHERE id = ?",
        (retry_at, error[:500], event_id),
    )
