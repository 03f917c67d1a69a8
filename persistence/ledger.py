"""The store-credit ledger and compensation coupons: where refunds go besides the payment.

A balance is never a stored number: it is the sum of the buyer's entries, each written once under
the refund's idempotency key, so a retried credit cannot land twice.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.models import BalanceEntry, Coupon, Refund

REFUND_CREDIT = "refund_credit"
REFUND_BONUS = "refund_bonus"


async def credit_refund(session: AsyncSession, refund: Refund, buyer_id: str) -> BalanceEntry:
    """The balance entry of this refund, written now unless an earlier attempt wrote it."""
    conversion = refund.conversion
    currency = conversion["to_currency"] if conversion else refund.currency
    amount = int(conversion["to_amount"]) if conversion else refund.amount
    await session.execute(
        insert(BalanceEntry)
        .values(
            buyer_id=buyer_id,
            currency=currency,
            amount=amount,
            kind=REFUND_CREDIT,
            refund_id=refund.refund_id,
            idempotency_key=refund.idempotency_key,
            conversion=conversion,
            memo=f"refund of ticket {refund.ticket_no}",
        )
        .on_conflict_do_nothing(index_elements=[BalanceEntry.idempotency_key])
    )
    if refund.bonus_amount:
        # The bonus under a key of its own, derived from the refund's: it lands once as well.
        await session.execute(
            insert(BalanceEntry)
            .values(
                buyer_id=buyer_id,
                currency=currency,
                amount=refund.bonus_amount,
                kind=REFUND_BONUS,
                refund_id=refund.refund_id,
                idempotency_key=bonus_key(refund.idempotency_key),
                memo=f"store credit bonus on the refund of ticket {refund.ticket_no}",
            )
            .on_conflict_do_nothing(index_elements=[BalanceEntry.idempotency_key])
        )
    entry = await session.scalar(
        select(BalanceEntry).where(BalanceEntry.idempotency_key == refund.idempotency_key)
    )
    assert entry is not None
    return entry


def bonus_key(refund_key: str) -> str:
    return f"{refund_key}-bonus"


def coupon_code(idempotency_key: str) -> str:
    """Derived from the refund's key, so every attempt names the same coupon."""
    digest = hashlib.sha256(idempotency_key.encode()).digest()
    return "CP-" + base64.b32encode(digest).decode()[:12]


async def issue_coupon(
    session: AsyncSession, refund: Refund, buyer_id: str, merchant_id: str, expires_at: datetime
) -> Coupon:
    await session.execute(
        insert(Coupon)
        .values(
            code=coupon_code(refund.idempotency_key),
            buyer_id=buyer_id,
            merchant_id=merchant_id,
            currency=refund.currency,
            amount=refund.amount,
            refund_id=refund.refund_id,
            idempotency_key=refund.idempotency_key,
            expires_at=expires_at,
        )
        .on_conflict_do_nothing(index_elements=[Coupon.idempotency_key])
    )
    coupon = await session.scalar(
        select(Coupon).where(Coupon.idempotency_key == refund.idempotency_key)
    )
    assert coupon is not None
    return coupon


async def balances(session: AsyncSession, buyer_id: str) -> dict[str, int]:
    """The buyer's balance per currency: the sum of every entry."""
    rows = await session.execute(
        select(BalanceEntry.currency, func.sum(BalanceEntry.amount))
        .where(BalanceEntry.buyer_id == buyer_id)
        .group_by(BalanceEntry.currency)
        .order_by(BalanceEntry.currency)
    )
    return {currency: int(total) for currency, total in rows.all()}


async def entries(session: AsyncSession, buyer_id: str, limit: int = 100) -> list[BalanceEntry]:
    rows = await session.scalars(
        select(BalanceEntry)
        .where(BalanceEntry.buyer_id == buyer_id)
        .order_by(BalanceEntry.entry_id.desc())
        .limit(limit)
    )
    return list(rows)


async def coupons(session: AsyncSession, buyer_id: str) -> list[Coupon]:
    rows = await session.scalars(
        select(Coupon).where(Coupon.buyer_id == buyer_id).order_by(Coupon.created_at.desc())
    )
    return list(rows)
