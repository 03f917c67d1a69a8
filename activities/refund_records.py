"""Reading and writing one refund row: its state for the workflow, its status history."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.exceptions import ApplicationError

import contracts as c
from domain.tickets import RefundStatus
from persistence.models import Refund

# Granted or sent, and not answered for good yet: the order still awaits this money.
IN_FLIGHT = frozenset({RefundStatus.granted, RefundStatus.pending})


def refund_state(refund: Refund, failure_code: str | None = None) -> c.RefundState:
    return c.RefundState(
        idempotency_key=refund.idempotency_key,
        provider=refund.provider or "",
        provider_refund_id=refund.provider_refund_id,
        status=refund.status,
        failure_reason=refund.failure_reason,
        failure_code=failure_code,
        destination=refund.destination,
    )


def record_status(
    refund: Refund, status: RefundStatus, source: str, reason: str | None = None
) -> None:
    if refund.status == status:
        return
    refund.status = status
    if reason:
        refund.failure_reason = reason
    refund.status_history = [
        *refund.status_history,
        {"status": status, "at": datetime.now(UTC).isoformat(), "source": source, "reason": reason},
    ]


async def refund_by_key(session: AsyncSession, key: str, *, lock: bool = False) -> Refund:
    query = select(Refund).where(Refund.idempotency_key == key)
    if lock:
        query = query.with_for_update()
    refund = (await session.execute(query)).scalar_one_or_none()
    if refund is None:
        raise ApplicationError(f"no refund granted under {key}", non_retryable=True)
    return refund
