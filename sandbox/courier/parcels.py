"""Parcels and their events: an event is written together with the webhook delivery announcing
it, so a restart never loses a delivery."""

from __future__ import annotations

import secrets
import sqlite3

from sandbox.courier import outbox
from sandbox.courier.schemas import (
    DEFAULT_DESCRIPTIONS,
    FINAL_STATUSES,
    EventObject,
    ParcelObject,
    PlanObject,
    Status,
    from_unix,
)

_AUTOPILOT: tuple[Status, ...] = ("picked_up", "in_transit", "delivered")


class ParcelClosed(Exception):
    """The parcel was already delivered or lost; couriers scan nothing after that."""


class CarrierMismatch(Exception):
    """The parcel exists under another carrier."""


def get(conn: sqlite3.Connection, tracking_no: str) -> ParcelObject | None:
    row = conn.execute("SELECT * FROM parcels WHERE tracking_no = ?", (tracking_no,)).fetchone()
    if row is None:
        return None
    events = conn.execute(
        "SELECT * FROM events WHERE tracking_no = ? ORDER BY seq", (tracking_no,)
    ).fetchall()
    return ParcelObject(
        tracking_no=row["tracking_no"],
        carrier=row["carrier"],
        status=row["status"],
        events=[EventObject.from_row(event) for event in events],
        created_at=from_unix(row["created_at"]),
        updated_at=from_unix(row["updated_at"]),
    )


def add_event(
    conn: sqlite3.Connection,
    tracking_no: str,
    carrier: str,
    status: Status,
    *,
    now: float,
    description: str | None = None,
    location: str | None = None,
) -> EventObject:
    """Append one scan (creating the parcel at its first) and queue its webhook."""
    row = conn.execute(
        "SELECT carrier, status FROM parcels WHERE tracking_no = ?", (tracking_no,)
    ).fetchone()
    if row is None:
        conn.execute(
            "INSERT INTO parcels (tracking_no, carrier, status, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (tracking_no, carrier, status, now, now),
        )
    else:
        if row["carrier"] != carrier:
            raise CarrierMismatch(row["carrier"])
        if row["status"] in FINAL_STATUSES:
            raise ParcelClosed(row["status"])
        conn.execute(
            "UPDATE parcels SET status = ?, updated_at = ? WHERE tracking_no = ?",
            (status, now, tracking_no),
        )
    event = EventObject(
        event_id=f"ev_{secrets.token_hex(10)}",
        tracking_no=tracking_no,
        status=status,
        description=description or DEFAULT_DESCRIPTIONS[status],
        location=location,
        occurred_at=from_unix(now),
    )
    conn.execute(
        "INSERT INTO events (event_id, tracking_no, status, description, location, occurred_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (event.event_id, tracking_no, status, event.description, location, now),
    )
    outbox.add(conn, carrier, event, now)
    return event


def plan_autopilot(
    conn: sqlite3.Connection, tracking_no: str, carrier: str, delays: list[float], now: float
) -> list[PlanObject]:
    """Schedule picked_up, in_transit and delivered; the autopilot loop applies them when due."""
    plans: list[PlanObject] = []
    due = now
    for status, delay in zip(_AUTOPILOT, delays, strict=True):
        due += max(delay, 0.0)
        conn.execute(
            "INSERT INTO plans (tracking_no, carrier, status, description, due_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (tracking_no, carrier, status, DEFAULT_DESCRIPTIONS[status], due),
        )
        at = from_unix(due)
        plans.append(PlanObject(tracking_no=tracking_no, carrier=carrier, status=status, due_at=at))
    return plans


def apply_due_plans(conn: sqlite3.Connection, now: float) -> int:
    """Turn due plans into events; a plan for a parcel that was closed meanwhile is dropped."""
    rows = conn.execute(
        "SELECT * FROM plans WHERE done = 0 AND due_at <= ? ORDER BY due_at, seq", (now,)
    ).fetchall()
    applied = 0
    for row in rows:
        conn.execute("UPDATE plans SET done = 1 WHERE seq = ?", (row["seq"],))
        try:
            add_event(
                conn,
                row["tracking_no"],
                row["carrier"],
                row["status"],
                now=now,
                description=row["description"],
            )
        except (ParcelClosed, CarrierMismatch):
            continue
        applied += 1
    return applied


def next_plan_at(conn: sqlite3.Connection) -> float | None:
    row = conn.execute("SELECT MIN(due_at) AS at FROM plans WHERE done = 0").fetchone()
    return None if row["at"] is None else float(row["at"])
