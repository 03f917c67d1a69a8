"""Payouts: refunds paid by bank transfer to the buyer's IBAN. Created idempotently, settled after
the bank's delay as the failure rules say, each status change written with its webhook event."""

from __future__ import annotations

import json
import secrets

from pydantic import ValidationError

from domain.bank_accounts import BankAccount
from sandbox.payment_provider.db import Database
from sandbox.payment_provider.movements import Movements
from sandbox.payment_provider.schemas import CreatePayoutRequest, PayoutAccount, PayoutObject

DEFAULT_FAILURE_REASON = "account_closed"


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
        return MOVEMENTS.load(conn, payout_id), True


MOVEMENTS = Movements(
    "payouts", "payout", "reference", DEFAULT_FAILURE_REASON, PayoutObject.from_row
)
get = MOVEMENTS.get
due_for_settlement = MOVEMENTS.due_for_settlement
next_change_at = MOVEMENTS.next_change_at
settle = MOVEMENTS.settle
reverse_due = MOVEMENTS.reverse_due
