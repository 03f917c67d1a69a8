"""The summary report (SPEC §7): a merchant sees its own shop, support every shop."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.auth import Principal, Role
from api.deps import SessionDep, require
from api.problems import Problem
from api.schemas.base import DateTime
from api.schemas.reports import (
    ApprovalRate,
    RefundedAmount,
    ReportPeriod,
    ResolutionTime,
    SummaryReport,
)
from persistence import reports as repo

router = APIRouter(prefix="/v1/reports", tags=["reports"])
ReaderDep = Annotated[Principal, Depends(require(Role.merchant, Role.support))]


@router.get("/summary", response_model=SummaryReport)
async def summary(
    session: SessionDep,
    principal: ReaderDep,
    merchant_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    created_from: Annotated[
        DateTime | None, Query(description="ISO 8601; inclusive; without offset means UTC")
    ] = None,
    created_to: Annotated[
        DateTime | None, Query(description="ISO 8601; exclusive; without offset means UTC")
    ] = None,
) -> SummaryReport:
    """Tickets by type, status and reason, approval rate, time to resolution, refunded
    amounts, automatic approvals, timeouts and escalations of the tickets opened in the period."""
    if principal.role is Role.merchant:
        if merchant_id is not None and merchant_id != principal.subject_id:
            raise Problem(
                403,
                "forbidden_merchant",
                "a merchant key reports on its own shop only",
                field="merchant_id",
            )
        merchant_id = principal.subject_id
    start, end = _utc(created_from), _utc(created_to)
    if start is not None and end is not None and start >= end:
        raise Problem(
            422, "invalid_period", "created_from must be before created_to", field="created_to"
        )
    scope = repo.ReportScope(merchant_id=merchant_id, created_from=start, created_to=end)
    figures = await repo.summary(session, scope)
    return SummaryReport(
        scope=ReportPeriod(merchant_id=merchant_id, created_from=start, created_to=end),
        generated_at=datetime.now(UTC),
        tickets=figures.tickets,
        by_type=figures.by_type,
        by_status=figures.by_status,
        by_reason=figures.by_reason,
        by_channel=figures.by_channel,
        approval=ApprovalRate(
            approved=figures.approved,
            decided=figures.decided,
            rate=round(figures.approved / figures.decided, 4) if figures.decided else None,
        ),
        resolution=ResolutionTime(
            resolved=figures.resolved, median_seconds=figures.median_resolution_seconds
        ),
        refunded=[RefundedAmount(currency=c, amount=a) for c, a in figures.refunded.items()],
        auto_approvals=figures.auto_approvals,
        timeouts=figures.timeouts,
        escalations=figures.escalations,
    )


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
