"""The dashboard's answer (`GET /v1/dashboard`): what each figure counts, and over which time."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.orders import MinorUnits
from api.schemas.reports import ApprovalRate


class Viewer(StrEnum):
    merchant = "merchant"
    support = "support"


class DashboardPeriod(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    merchant_id: str | None = Field(description="the shop shown; null means every shop")
    start: datetime = Field(alias="from", description="inclusive")
    end: datetime = Field(alias="to", description="exclusive")


class TicketCounts(BaseModel):
    """Tickets opened in the period, counted by their current status and by reason code."""

    opened: int
    by_status: dict[str, int] = Field(description="every status, in lifecycle order")
    by_reason: dict[str, int] = Field(description="every reason code of the taxonomy")


class ResolutionTime(BaseModel):
    """Time from opening to a terminal status (completed, cancelled or closed) of the tickets
    opened in the period that are resolved; PostgreSQL's percentile_cont, in seconds."""

    type: str | None = Field(description="the ticket type; null in `overall`, every type")
    resolved: int
    median_seconds: float | None = Field(description="null when nothing is resolved")
    p90_seconds: float | None = Field(description="90th percentile; null when nothing is resolved")


class ResolutionTimes(BaseModel):
    overall: ResolutionTime
    by_type: list[ResolutionTime] = Field(description="every ticket type, in declared order")


class CurrencyRefunds(BaseModel):
    """One currency's succeeded refunds: amounts are never added across currencies."""

    currency: str = Field(examples=["CNY"])
    exponent: int = Field(description="minor-unit digits of the currency (CNY 2, JPY 0, KWD 3)")
    total: MinorUnits = Field(description="the period's sum, in minor units")
    daily: list[MinorUnits] = Field(description="one sum per entry of `days`, in minor units")


class RefundedOverTime(BaseModel):
    """Refunds whose status is `succeeded` (not pending, failed or reversed), on the UTC day
    they succeeded, whatever day their ticket was opened."""

    days: list[date] = Field(description="every UTC day the period touches, in order")
    currencies: list[CurrencyRefunds] = Field(
        description="currencies with a refund that succeeded in the period, by code"
    )


class DueTicket(BaseModel):
    ticket_no: str
    merchant_id: str
    type: str
    status: str
    next_actor: str | None
    deadline_at: datetime
    on_timeout: str | None = Field(description="what the deadline does if nobody acts")


class DueDeadlines(BaseModel):
    """Open tickets whose deadline falls within `within_hours` of `generated_at`, whatever the
    period: the work to do first."""

    within_hours: int
    count: int
    first: list[DueTicket] = Field(description="the earliest ones, soonest first")


class Dashboard(BaseModel):
    viewer: Viewer = Field(description="the caller's role: a merchant sees its own shop only")
    period: DashboardPeriod
    generated_at: datetime
    tickets: TicketCounts
    approval: ApprovalRate = Field(description="of the tickets opened in the period")
    resolution: ResolutionTimes
    refunded: RefundedOverTime
    deadlines: DueDeadlines
