"""The after-sales dashboard: its figures for merchants (their own shop) and support (every
shop, or one), and the page that draws them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse

from api import static_pages
from api.auth import Principal, Role
from api.deps import SessionDep, require
from api.problems import Problem
from api.schemas.base import DateTime
from api.schemas.dashboard import (
    CurrencyRefunds,
    Dashboard,
    DashboardPeriod,
    DueDeadlines,
    DueTicket,
    RefundedOverTime,
    ResolutionTime,
    ResolutionTimes,
    TicketCounts,
    Viewer,
)
from api.schemas.reports import ApprovalRate
from domain.money import exponent
from persistence import dashboard as repo

router = APIRouter(tags=["dashboard"])
ReaderDep = Annotated[Principal, Depends(require(Role.merchant, Role.support))]

DEFAULT_PERIOD = timedelta(days=30)
# The refunds come one sum per day: a leap year of them at most.
MAX_PERIOD = timedelta(days=366)
DUE_WITHIN = timedelta(hours=24)
DUE_SHOWN = 10

_ASSETS = {
    "pages.js": ("pages.js", "text/javascript"),
    "dashboard.js": ("dashboard.js", "text/javascript"),
    "dashboard.css": ("dashboard.css", "text/css"),
    "chart.umd.min.js": ("vendor/chart.umd.min.js", "text/javascript"),
}


@router.get(
    "/v1/dashboard",
    response_model=Dashboard,
    responses={
        403: {
            "description": "only a merchant or support key may do this (`forbidden_role`), "
            "and a merchant's key shows its own shop only (`forbidden_merchant`)"
        }
    },
)
async def dashboard(
    session: SessionDep,
    principal: ReaderDep,
    merchant_id: Annotated[
        str | None,
        Query(min_length=1, max_length=64, description="support: one shop; a merchant: its own"),
    ] = None,
    start: Annotated[
        DateTime | None,
        Query(
            alias="from",
            description="ISO 8601, inclusive; without offset means UTC; default 30 days before "
            "`to`",
        ),
    ] = None,
    end: Annotated[
        DateTime | None,
        Query(
            alias="to",
            description="ISO 8601, exclusive; without offset means UTC; default now; at most "
            "366 days after `from`",
        ),
    ] = None,
) -> Dashboard:
    """Tickets by status and by reason, approval rate and time to resolution (median and 90th
    percentile, by type) of the tickets opened in the period; refunded amounts per currency and
    per day they succeeded; and the open tickets whose deadline falls in the next 24 hours."""
    if principal.role is Role.merchant:
        if merchant_id is not None and merchant_id != principal.subject_id:
            raise Problem(
                403,
                "forbidden_merchant",
                "a merchant key shows its own shop only",
                field="merchant_id",
            )
        merchant_id = principal.subject_id
    now = datetime.now(UTC)
    period_end = _utc(end) or now
    period_start = _utc(start) or period_end - DEFAULT_PERIOD
    if period_start >= period_end:
        raise Problem(422, "invalid_period", "`from` must be before `to`", field="to")
    if period_end - period_start > MAX_PERIOD:
        raise Problem(422, "period_too_long", "the period is at most 366 days", field="from")
    scope = repo.DashboardScope(merchant_id, period_start, period_end)
    figures = await repo.figures(
        session, scope, now=now, due_within=DUE_WITHIN, due_shown=DUE_SHOWN
    )
    days = _days(period_start, period_end)
    return Dashboard(
        viewer=Viewer(principal.role),
        period=DashboardPeriod(merchant_id=merchant_id, start=period_start, end=period_end),
        generated_at=now,
        tickets=TicketCounts(
            opened=figures.opened, by_status=figures.by_status, by_reason=figures.by_reason
        ),
        approval=ApprovalRate(
            approved=figures.approved,
            decided=figures.decided,
            rate=round(figures.approved / figures.decided, 4) if figures.decided else None,
        ),
        resolution=ResolutionTimes(
            overall=_resolution(figures.resolution),
            by_type=[_resolution(each) for each in figures.resolution_by_type],
        ),
        refunded=RefundedOverTime(
            days=days,
            currencies=[
                CurrencyRefunds(
                    currency=each.currency,
                    exponent=exponent(each.currency),
                    total=each.total,
                    daily=[each.by_day.get(day, 0) for day in days],
                )
                for each in figures.refunds
            ],
        ),
        deadlines=DueDeadlines(
            within_hours=int(DUE_WITHIN.total_seconds() // 3600),
            count=figures.due_count,
            first=[DueTicket(**vars(due)) for due in figures.due],
        ),
    )


@router.get("/dashboard", include_in_schema=False)
async def page() -> FileResponse:
    """The dashboard page for merchants and support (it asks for the API key)."""
    return static_pages.page("dashboard.html")


@router.get("/dashboard/static/{name}", include_in_schema=False)
async def asset(name: str) -> FileResponse:
    return static_pages.asset(name, _ASSETS)


def _resolution(figure: repo.Resolution) -> ResolutionTime:
    return ResolutionTime(
        type=figure.type,
        resolved=figure.resolved,
        median_seconds=figure.median_seconds,
        p90_seconds=figure.p90_seconds,
    )


def _days(start: datetime, end: datetime) -> list[date]:
    """Every UTC day that [start, end) touches."""
    first = start.astimezone(UTC).date()
    last = (end.astimezone(UTC) - timedelta(microseconds=1)).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
