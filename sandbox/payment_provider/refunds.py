"""Refunds: idempotent creation, and settlement that writes the refund's new status together
with the webhook event announcing it."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta

from sandbox.payment_provider.db import Database
from sandbox.payment_provider.movements import Movements
from sandbox.payment_provider.schemas import CreateRefundRequest, RefundObject

DEFAULT_FAILURE_REASON = "declined_by_issuer"


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
        return MOVEMENTS.load(conn, refund_id), True


def _older_than(paid_at: datetime, now: float, window_days: int) -> bool:
    if paid_at.tzinfo is None:
        paid_at = paid_at.replace(tzinfo=UTC)
    return paid_at < datetime.fromtimestamp(now, UTC) - timedelta(days=window_days)


def list_for_payment(db: Database, payment_reference: str) -> list[RefundObject]:
    with db.reading() as conn:
        rows = conn.execute(
            "SELECT * FROM refunds WHERE payment_reference = ? ORDER BY created_at, id",
            (payment_reference,),
        ).fetchall()
    return [RefundObject.from_row(row) for row in rows]


MOVEMENTS = Movements(
    "refunds", "refund", "payment_reference", DEFAULT_FAILURE_REASON, RefundObject.from_row
)
get = MOVEMENTS.get
due_for_settlement = MOVEMENTS.due_for_settlement
next_change_at = MOVEMENTS.next_change_at
settle = MOVEMENTS.settle
reverse_due = MOVEMENTS.reverse_due
