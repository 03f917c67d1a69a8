"""Payouts: refunds paid by bank transfer to the buyer's IBAN. Created idempotently, settled after
the bank's delay as the failure rules say, each status change written with its webhook event."""

from __future__ import annotations

import json
import secrets
import sqlite3

from pydantic import ValidationError

from domain.bank_accounts import BankAccount
from sandbox.payment_provider import events, rules
from sandbox.payment_provider.db import Database
from sandbox.payment_provider.schemas import CreatePayoutRequest, PayoutAccount, PayoutObject

DEFAULT_FAILURE_REASON = "account_closed"
DEFAULT_REVERSAL_REASON = "returned_by_receiving_bank"


class InvalidAccount(Exception):
    """The bank account cannot receive a transfer: a mistyped IBAN, a blank holder name."""


class IdempotencyKeyReused(Exception):
    """The key was first used with another request body."""


def checked_account(account: PayoutAccount) -> BankAccount:
    """The account as banks write it, or InvalidAccount saying what is wrong with it."""
    try:
        return BankAccount(holder_name=account.holder_name, iban=account.iban)
    except ValidationError as exc:
        raise InvalidAccount("; ".join(_problems(exc))) from None


def _problems(exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors():
        cause = error.get("ctx", {}).get("error")
        field = ".".join(str(part) for part in error["loc"])
        problems.append(f"{field}: {cause if cause is not None else error['msg']}")
    return problems


def create(
    db: Database, key: str, request: CreatePayoutRequest, *, now: float, settle_delay: float
) -> tuple[PayoutObject, bool]:
    """The payout for `key`, and whether this call created it. Raises InvalidAccount before
    anything is stored, and IdempotencyKeyReused for a key first sent with another body."""
    account = checked_account(request.account)
    canonical = request.model_copy(update={"account": PayoutAccount(**account.model_dump())})
    fingerprint = canonical.fingerprint()
    with db.transaction() as conn:
        row = conn.execute("SELECT * FROM payouts WHERE idempotency_key = ?", (key,)).fetchone()
        if row is not None:
            if row["request_hash"] != fingerprint:
                raise IdempotencyKeyReused(key)
            return PayoutObject.from_row(row), False
        payout_id = f"po_{secrets.token_hex(12)}"
        conn.execute(
            "INSERT INTO payouts (id, idempotency_key, request_hash, reference, amount, currency,"
            " account_holder, iban, metadata, status, created_at, updated_at, settle_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
            (
                payout_id,
                key,
                fingerprint,
                request.reference,
                request.amount,
                request.currency,
                account.holder_name,
                account.iban,
                json.dumps(request.metadata),
                now,
                now,
                now + settle_delay,
            ),
        )
        return _load(conn, payout_id), True


def get(db: Database, payout_id: str) -> PayoutObject | None:
    with db.reading() as conn:
        row = conn.execute("SELECT * FROM payouts WHERE id = ?", (payout_id,)).fetchone()
    return None if row is None else PayoutObject.from_row(row)


def due_for_settlement(db: Database, now: float) -> list[str]:
    with db.reading() as conn:
        rows = conn.execute(
            "SELECT id FROM payouts WHERE status = 'pending' AND settle_at <= ? ORDER BY settle_at",
            (now,),
        ).fetchall()
    return [row["id"] for row in rows]


def next_change_at(db: Database) -> float | None:
    """When the next pending payout settles or the next returned transfer comes back."""
    with db.reading() as conn:
        row = conn.execute(
            "SELECT MIN(at) AS at FROM ("
            " SELECT MIN(settle_at) AS at FROM payouts WHERE status = 'pending'"
            " UNION ALL SELECT MIN(reverse_at) FROM payouts WHERE status = 'succeeded')"
        ).fetchone()
    return None if row["at"] is None else float(row["at"])


def settle(db: Database, payout_id: str, now: float, reverse_delay: float) -> PayoutObject | None:
    """Settle a pending payout now, as the failure rules for its reference say; a settled one is
    left as it is. None when there is no such payout."""
    with db.transaction() as conn:
        row = conn.execute("SELECT * FROM payouts WHERE id = ?", (payout_id,)).fetchone()
        if row is None or row["status"] != "pending":
            return None if row is None else PayoutObject.from_row(row)
        rule = rules.take(conn, ("fail", "reverse_after_success"), row["reference"])
        if rule is not None and rule.outcome == "fail":
            conn.execute(
                "UPDATE payouts SET status = 'failed', failure_reason = ?, updated_at = ?"
                " WHERE id = ?",
                (rule.reason or DEFAULT_FAILURE_REASON, now, payout_id),
            )
        else:
            # A transfer the receiving bank returns is credited first, then sent back.
            reverse_at = None if rule is None else now + reverse_delay
            reverse_reason = (rule.reason if rule else None) or DEFAULT_REVERSAL_REASON
            conn.execute(
                "UPDATE payouts SET status = 'succeeded', updated_at = ?, reverse_at = ?,"
                " reverse_reason = ? WHERE id = ?",
                (now, reverse_at, reverse_reason, payout_id),
            )
        payout = _load(conn, payout_id)
        events.add(conn, f"payout.{payout.status}", payout, now)
        return payout


def reverse_due(db: Database, now: float) -> list[PayoutObject]:
    """Reverse the succeeded payouts whose transfer the receiving bank returns now."""
    returned = []
    with db.transaction() as conn:
        rows = conn.execute(
            "SELECT id FROM payouts WHERE status = 'succeeded' AND reverse_at <= ?", (now,)
        ).fetchall()
        for row in rows:
            conn.execute(
                "UPDATE payouts SET status = 'reversed', failure_reason = reverse_reason,"
                " updated_at = ?, reverse_at = NULL WHERE id = ?",
                (now, row["id"]),
            )
            payout = _load(conn, row["id"])
            events.add(conn, "payout.reversed", payout, now)
            returned.append(payout)
    return returned


def _load(conn: sqlite3.Connection, payout_id: str) -> PayoutObject:
    row = conn.execute("SELECT * FROM payouts WHERE id = ?", (payout_id,)).fetchone()
    return PayoutObject.from_row(row)
