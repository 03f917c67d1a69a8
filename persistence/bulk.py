"""Bulk runs and their tickets' outcomes (contracts.bulk): stored by the API before the workflow
starts, each outcome written by the run's activity as it comes, read back while it goes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.bulk import BulkCounts, BulkOutcome, BulkTicketResult
from persistence.models import BulkResult, BulkRun


async def find_run(session: AsyncSession, owner: str, bulk_id: str) -> BulkRun | None:
    return await session.scalar(
        select(BulkRun).where(BulkRun.owner == owner, BulkRun.bulk_id == bulk_id)
    )


async def add_run(session: AsyncSession, run: BulkRun, ticket_nos: Sequence[str]) -> None:
    """The run with one pending row per ticket, in the order they were sent."""
    session.add(run)
    await session.flush()
    await session.execute(
        insert(BulkResult),
        [
            {
                "run_id": run.run_id,
                "position": position,
                "ticket_no": ticket_no,
                "outcome": "pending",
            }
            for position, ticket_no in enumerate(ticket_nos)
        ],
    )


async def pending(session: AsyncSession, run_id: str, offset: int, size: int) -> list[BulkResult]:
    """The tickets of positions [offset, offset + size) that have no outcome yet."""
    rows = await session.scalars(
        select(BulkResult)
        .where(
            BulkResult.run_id == run_id,
            BulkResult.position >= offset,
            BulkResult.position < offset + size,
            BulkResult.outcome == BulkOutcome.pending,
        )
        .order_by(BulkResult.position)
    )
    return list(rows)


async def record_outcome(
    session: AsyncSession, run_id: str, position: int, result: BulkTicketResult
) -> None:
    await session.execute(
        update(BulkResult)
        .where(BulkResult.run_id == run_id, BulkResult.position == position)
        .values(
            outcome=result.outcome,
            status=result.status,
            version=result.version,
            code=result.code,
            message=result.message,
            updated_at=datetime.now(UTC),
        )
    )


async def finish_run(session: AsyncSession, run_id: str) -> None:
    await session.execute(
        update(BulkRun)
        .where(BulkRun.run_id == run_id, BulkRun.finished_at.is_(None))
        .values(status="finished", finished_at=datetime.now(UTC))
    )


async def counts(session: AsyncSession, run_id: str) -> BulkCounts:
    rows = await session.execute(
        select(BulkResult.outcome, func.count())
        .where(BulkResult.run_id == run_id)
        .group_by(BulkResult.outcome)
    )
    found: dict[str, Any] = {outcome: int(number) for outcome, number in rows}
    return BulkCounts(done=found.get(BulkOutcome.done, 0), failed=found.get(BulkOutcome.failed, 0))


async def results_page(
    session: AsyncSession, run_id: str, after: int, limit: int, outcome: BulkOutcome | None
) -> list[BulkResult]:
    query = select(BulkResult).where(BulkResult.run_id == run_id, BulkResult.position > after)
    if outcome is not None:
        query = query.where(BulkResult.outcome == outcome)
    return list(await session.scalars(query.order_by(BulkResult.position).limit(limit)))
