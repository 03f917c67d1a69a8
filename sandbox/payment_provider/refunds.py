"""Refunds: idempotent creation, and settlement that writes the refund's new status together
with the webhook event announcing it."""

from __future__ import annotations

import json
import secrets
import sqlite3
from datetime import UTC, datetime, timedelta

from sandbox.payment_provider import events, rules
from sandbox.payment_provider.db import Database
from sandbox.payment_provider.schemas import CreateRefundRequest, RefundObject

DEFAULT_FAILURE_REASON = "declined_by_issuer"
DEFAULT_REVERSAL_REASON = "returned_by_receiving_bank"


class IdempotencyKeyReused(Exception):
    """The key was first used with another request body."""


class PaymentTooOld(Exception):
    """The payment is older than the refund window."""


def create(
    db: Database,
    key: str,
    request: CreateRefundRequest,
    *,
    now: float,
    settle_delay: float,
    window_days: int,
) -> tuple[RefundObject, bool]:
    """The refund for `key`, and whether this call created it. A replay gets the refund it made
    even if the payment has aged out of the window since."""
    fingerprint = request.fingerprint()
    with db.transaction() as conn:
        row = conn.execute("SELECT * FROM refunds WHERE idempotency_key = ?", (key,)).fetchone()
        if row is not None:
            if row["request_hash"] != fingerprint:
                raise IdempotencyKeyReused(key)
            return RefundObject.from_row(row), False
        paid_at = request.payment_created_at
        if paid_at is not None and _older_than(paid_at, now, window_days):
            raise PaymentTooOld(key)
        refund_id = f"re_{secrets.token_hex(12)}"
        conn.execute(
            "INSERT INTO refunds (id, idempotency_key, request_hash, payment_reference,"
            " payment_method, amount, currency, reason, metadata, status, created_at, updated_at,"
            " settle_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
            (
                refund_id,
                key,
                fingerprint,
                request.payment_reference,
                request.payment_method,
                request.amount,
                request.currency,
                request.reason,
                json.dumps(request.metadata),
                now,
                now,
                now + settle_delay,
            ),
        )
        return _load(conn, refund_id), True


def _older_than(paid_at: datetime, now: float, window_days: int) -> bool:
    if paid_at.tzinfo is None:
        paid_at = paid_at.replace(tzinfo=UTC)
    return paid_at < datetime.fromtimestamp(now, UTC) - timedelta(days=window_days)


def get(db: Database, refund_id: str) -> RefundObject | None:
    with db.reading() as conn:
        row = conn.execute("SELECT * FROM refunds WHERE id = ?", (refund_id,)).fetchone()
    return None if row is None else RefundObject.from_row(row)


def list_for_payment(db: Database, payment_reference: str) -> list[RefundObject]:
    with db.reading() as conn:
        rows = conn.execute(
            "SELECT * FROM refunds WHERE payment_reference = ? ORDER BY created_at, id",
            (payment_reference,),
        ).fetchall()
    return [RefundObject.from_row(row) for row in rows]


def due_for_settlement(db: Database, now: float) -> list[str]:
    with db.reading() as conn:
        rows = conn.execute(
            "SELECT id FROM refunds WHERE status = 'pending' AND settle_at <= ? ORDER BY settle_at",
            (now,),
        ).fetchall()
    return [row["id"] for row in rows]


def next_change_at(db: Database) -> float | None:
    """When the next pending refund settles or the next reversal happens."""
    with db.reading() as conn:
        row = conn.execute(
            "SELECT MIN(at) AS at FROM ("
            " SELECT MIN(settle_at) AS at FROM refunds WHERE status = 'pending'"
            " UNION ALL SELECT MIN(reverse_at) FROM refunds WHERE status = 'succeeded')"
        ).fetchone()
    return None if row["at"] is None else float(row["at"])


def settle(db: Database, refund_id: str, now: float, reverse_delay: float) -> RefundObject | None:
    """Settle a pending refund now, as the failure rules say; a settled one is left as it is."""
    with db.transaction() as conn:
        row = conn.execute("SELECT * FROM refunds WHERE id = ?", (refund_id,)).fetchone()
        if row is None or row["status"] != "pending":
            return None if row is None else RefundObject.from_row(row)
        rule = rules.take(conn, ("fail", "reverse_after_success"), row["payment_reference"])
        if rule is not None and rule.outcome == "fail":
            conn.execute(
                "UPDATE refunds SET status = 'failed', failure_reason = ?, updated_at = ?"
                " WHERE id = ?",
                (rule.reason or DEFAULT_FAILURE_REASON, now, refund_id),
            )
        else:
            # A rule asking for a reversal lets the refund succeed first, as a bank would.
            reverse_at, reverse_reason = None, None
            if rule is not None:
                reverse_at, reverse_reason = now + reverse_delay, rule.reason
            conn.execute(
                "UPDATE refunds SET status = 'succeeded', updated_at = ?, reverse_at = ?,"
                " reverse_reason = ? WHERE id = ?",
                (now, reverse_at, reverse_reason or DEFAULT_REVERSAL_REASON, refund_id),
            )
        refund = _load(conn, refund_id)
        events.add(conn, f"refund.{refund.status}", refund, now)
        return refund


def reverse_due(db: Database, now: float) -> list[RefundObject]:
    """Reverse the succeeded refunds whose money the bank sends back now."""
    reversed_refunds = []
    with db.transaction() as conn:
        rows = conn.execute(
            "SELECT id FROM refunds WHERE status = 'succeeded' AND reverse_at <= ?", (now,)
        ).fetchall()
        for row in rows:
            conn.execute(
                "UPDATE refunds SET status = 'reversed', failure_reason = reverse_reason,"
                " updated_at = ?, reverse_at = NULL WHERE id = ?",
                (now, row["id"]),
            )
            refund = _load(conn, row["id"])
            events.add(conn, "refund.reversed", refund, now)
            reversed_refunds.append(refund)
    return reversed_refunds


def _load(conn: sqlite3.Connection, refund_id: str) -> RefundObject:
    row = conn.execute("SELECT * FROM refunds WHERE id = ?", (refund_id,)).fetchone()
    return RefundObject.from_row(row)
