"""The sandbox's SQLite file: one connection behind a lock, writes in `BEGIN IMMEDIATE`
transactions."""

from __future__ import annotations

from pathlib import Path

from sandbox.sqlite import SqliteStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS parcels (
    tracking_no TEXT PRIMARY KEY,
    carrier TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    tracking_no TEXT NOT NULL REFERENCES parcels (tracking_no),
    status TEXT NOT NULL,
    description TEXT NOT NULL,
    location TEXT,
    occurred_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_parcel ON events (tracking_no, seq);
CREATE TABLE IF NOT EXISTS deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE REFERENCES events (event_id),
    tracking_no TEXT NOT NULL,
    carrier TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    delivered_at REAL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_undelivered ON deliveries (delivered_at, next_attempt_at);
CREATE TABLE IF NOT EXISTS plans (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tracking_no TEXT NOT NULL,
    carrier TEXT NOT NULL,
    status TEXT NOT NULL,
    description TEXT NOT NULL,
    due_at REAL NOT NULL,
    done INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS plans_due ON plans (done, due_at);
CREATE TABLE IF NOT EXISTS labels (
    label_id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    request_hash TEXT NOT NULL,
    carrier TEXT NOT NULL,
    tracking_no TEXT NOT NULL UNIQUE,
    dropoff_code TEXT NOT NULL UNIQUE,
    reference TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""


class Database(SqliteStore):
    def __init__(self, path: Path | str) -> None:
        super().__init__(path, _SCHEMA)
