"""Reading and writing one refund row: its state for the workflow, its status history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.exceptions import ApplicationError

import contracts as c
from domain.tickets import RefundStatus
from persistence.models import Refund
from persistence.tables import REFUNDS

# Granted or sent, and not answered for good yet: the order still awaits this money.
IN_FLIGHT = frozenset({RefundStatus.granted, RefundStatus.pending})


class StoredRefund(Protocol):
    """What a refund's state is read from: the row, or the columns a statement returned."""

    @property
    def idempotency_key(self) -> str: ...
    @property
    def provider(self) -> str | None: ...
    @property
    def provider_refund_id(self) -> str | None: ...
    @property
    def status(self) -> str: ...
    @property
    def failure_reason(self) -> str | None: ...
    @property
    def destination(self) -> str: ...


# The columns of `StoredRefund`, for statements that return them.
STATE_COLUMNS = (
    REFUNDS.c.idempotency_key,
    REFUNDS.c.provider,
    REFUNDS.c.provider_refund_id,
    REFUNDS.c.status,
    REFUNDS.c.failure_reason,
    REFUNDS.c.destination,
)


def refund_state(refund: StoredRefund, failure_code: str | None = None) -> c.RefundState:
    return c.RefundState(
        idempotency_key=refund.idempotency_key,
        provider=refund.provider or "",
        provider_refund_id=refund.provider_refund_id,
        status=refund.status,
        failure_reason=refund.failure_reason,
        failure_code=failure_code,
        destination=refund.destination,
    )


def status_change(
    current: str,
    history: list[Any],
    status: RefundStatus,
    source: str,
    reason: str | None = None,
) -> dict[str, Any] | None:
    """The columns a refund at `current` takes on reaching `status`, its history with one more
    entry; None when it is there already."""
    if current == status:
        return None
    at = datetime.now(UTC).isoformat()
    entry = {"status": status, "at": at, "source": source, "reason": reason}
    changed: dict[str, Any] = {"status": status, "status_history": [*history, entry]}
    if reason:
        changed["failure_reason"] = reason
    return changed


def record_status(
    refund: Refund, status: RefundStatus, source: str, reason: str | None = None
) -> None:
    changed = status_change(refund.status, refund.status_history, status, source, reason)
    for column, value in (changed or {}).items():
        setattr(refund, column, value)


async def refund_by_key(session: AsyncSession, key: str, *, lock: bool = False) -> Refund:
    query = select(Refund).where(Refund.idempotency_key == key)
    if lock:
        query = query.with_for_update()
    refund = (await session.execute(query)).scalar_one_or_none()
    if refund is None:
        raise no_refund(key)
    return refund


def no_refund(key: str) -> ApplicationError:
    return ApplicationError(f"no refund granted under {key}", non_retryable=True)
