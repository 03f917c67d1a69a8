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
CREATE TABLE IF NOT EXISTS payouts (
    id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    request_hash TEXT NOT NULL,
    reference TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    account_holder TEXT NOT NULL,
    iban TEXT NOT NULL,
    metadata TEXT NOT NULL,
    status TEXT NOT NULL,
    failure_reason TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    settle_at REAL NOT NULL,
    reverse_at REAL,
    reverse_reason TEXT
);
CREATE INDEX IF NOT EXISTS payouts_by_status ON payouts (status, settle_at);
CREATE TABLE IF NOT EXISTS rules (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    match_payment_reference TEXT,
    outcome TEXT NOT NULL,
    reason TEXT,
    times_remaining INTEGER,
    delay REAL,
    acts TEXT
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    created INTEGER NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    delivered_at REAL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS events_undelivered ON events (delivered_at, next_attempt_at);
"""

# Columns a file written before them lacks, added in place (rules then in it never used them).
_ADDED_COLUMNS = {"rules": {"delay": "REAL", "acts": "TEXT"}}

# A file written before payouts existed keeps its events in a table that names only refunds
# (`refund_id REFERENCES refunds`); they move to the table above, undelivered ones included.
_EVENTS_OF_REFUNDS_ONLY = """
ALTER TABLE events RENAME TO events_of_refunds;
DROP INDEX IF EXISTS events_undelivered;
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    created INTEGER NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    delivered_at REAL,
    last_error TEXT
);
INSERT INTO events (seq, id, type, object_id, created, payload, attempts, next_attempt_at,
                    delivered_at, last_error)
    SELECT seq, id, type, refund_id, created, payload, attempts, next_attempt_at, delivered_at,
           last_error FROM events_of_refunds;
DROP TABLE events_of_refunds;
CREATE INDEX events_undelivered ON events (delivered_at, next_attempt_at);
"""


class Database(SqliteStore):
    def __init__(self, path: Path | str) -> None:
        super().__init__(path, _SCHEMA)
        with self.transaction() as conn:
            columns = {row["name"] for row in conn.execute("PRAGMA table_info(events)")}
            if "refund_id" in columns:
                for statement in _EVENTS_OF_REFUNDS_ONLY.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            for table, added in _ADDED_COLUMNS.items():
                present = {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}
                for column, kind in added.items():
                    if column not in present:
                        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
