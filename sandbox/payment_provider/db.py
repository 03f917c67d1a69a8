"""The sandbox's SQLite file: one connection behind a lock, writes in `BEGIN IMMEDIATE` transactions
(so even several processes on one file cannot interleave a check and its insert)."""

from __future__ import annotations

from pathlib import Path

from sandbox.sqlite import SqliteStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS refunds (
    id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    request_hash TEXT NOT NULL,
    payment_reference TEXT NOT NULL,
    payment_method TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    reason TEXT,
    metadata TEXT NOT NULL,
    status TEXT NOT NULL,
    failure_reason TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    settle_at REAL NOT NULL,
    reverse_at REAL,
    reverse_reason TEXT
);
CREATE INDEX IF NOT EXISTS refunds_by_reference ON refunds (payment_reference, created_at);
CREATE INDEX IF NOT EXISTS refunds_by_status ON refunds (status, settle_at);
CREATE TABLE IF NOT EXISTS rules (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    match_payment_reference TEXT,
    outcome TEXT NOT NULL,
    reason TEXT,
    times_remaining INTEGER
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    refund_id TEXT NOT NULL REFERENCES refunds (id),
    created INTEGER NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    delivered_at REAL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS events_undelivered ON events (delivered_at, next_attempt_at);
"""


class Database(SqliteStore):
    def __init__(self, path: Path | str) -> None:
        super().__init__(path, _SCHEMA)
