"""What the sandboxes hold, read from their SQLite files: the provider's refunds and payouts, and
whether either sandbox still has work under way (a settlement, a reversal, a webhook to deliver).

Their HTTP APIs do not say when a reversal is due or a webhook still waits, and a test that must
know the world is quiet before it checks invariants needs both. The files are read only.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

PROVIDER_FILE = "payment-sandbox.sqlite3"
COURIER_FILE = "courier-sandbox.sqlite3"


@dataclass(frozen=True)
class ProviderMovement:
    """A refund (`re_…`) or a payout (`po_…`) as the sandbox provider holds it."""

    id: str
    idempotency_key: str
    reference: str  # the payment reference of a refund, the order id of a payout
    amount: int
    currency: str
    status: str


@contextmanager
def _reading(path: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as conn:
        conn.row_factory = sqlite3.Row
        yield conn


def provider_movements(data_dir: Path) -> list[ProviderMovement]:
    """Every refund and payout the provider ever made."""
    with _reading(data_dir / PROVIDER_FILE) as conn:
        rows = conn.execute(
            "SELECT id, idempotency_key, payment_reference AS reference, amount, currency, status"
            " FROM refunds UNION ALL SELECT id, idempotency_key, reference, amount, currency,"
            " status FROM payouts"
        ).fetchall()
    return [ProviderMovement(**dict(row)) for row in rows]


def provider_busy(data_dir: Path) -> list[str]:
    """What the provider will still do by itself; empty when it is quiet."""
    busy = []
    with _reading(data_dir / PROVIDER_FILE) as conn:
        for table in ("refunds", "payouts"):
            pending = conn.execute(
                f"SELECT COUNT(*) FROM {table} WHERE status = 'pending'"
                " OR (status = 'succeeded' AND reverse_at IS NOT NULL)"
            ).fetchone()[0]
            if pending:
                busy.append(f"{pending} {table} pending or due to be reversed")
        undelivered = conn.execute(
            "SELECT COUNT(*) FROM events WHERE delivered_at IS NULL"
        ).fetchone()[0]
    if undelivered:
        busy.append(f"{undelivered} provider webhooks undelivered")
    return busy


def courier_busy(data_dir: Path) -> list[str]:
    """Scans the courier still plans or has not delivered by webhook; empty when it is quiet."""
    with _reading(data_dir / COURIER_FILE) as conn:
        planned = conn.execute("SELECT COUNT(*) FROM plans WHERE done = 0").fetchone()[0]
        undelivered = conn.execute(
            "SELECT COUNT(*) FROM deliveries WHERE delivered_at IS NULL"
        ).fetchone()[0]
    busy = [f"{planned} courier scans planned"] if planned else []
    return busy + ([f"{undelivered} courier webhooks undelivered"] if undelivered else [])


def parcel_status(data_dir: Path, tracking_no: str) -> str | None:
    """The courier's last status of a parcel; None before its first scan."""
    with _reading(data_dir / COURIER_FILE) as conn:
        row = conn.execute(
            "SELECT status FROM parcels WHERE tracking_no = ?", (tracking_no,)
        ).fetchone()
    return None if row is None else str(row["status"])
