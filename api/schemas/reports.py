"""The summary report for merchants and support (SPEC §7): what each figure counts."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from api.schemas.orders import MinorUnits
from domain.reports import (
    APPROVAL_EVENTS,
    AUTO_APPROVAL_EVENTS,
    REJECTION_EVENTS,
    TIMEOUT_EVENTS,
)


def _names(events: tuple[str, ...]) -> str:
    return ", ".join(f"`{event}`" for event in events)


class ReportPeriod(BaseModel):
    """Tickets opened in [created_from, created_to); an open end is unbounded."""

    merchant_id: str | None = Field(description="the shop reported on; null means every shop")
    created_from: datetime | None
    created_to: datetime | None


class ApprovalRate(BaseModel):
    """A ticket is decided once its timeline holds a decision event (an approval or a
    rejection), and its outcome is its latest one. So a rejection overturned by a refund in
    arbitration counts as approved, and an approval the second approver declined as rejected;
    tickets cancelled or still waiting for a decision count in neither figure."""

    approved: int = Field(
        description="decided tickets whose latest decision approves: " + _names(APPROVAL_EVENTS)
    )
    decided: int = Field(
        description="tickets with at least one decision event: an approval, or a rejection "
        "(" + _names(REJECTION_EVENTS) + ")"
    )
    rate: float | None = Field(
        description="approved / decided, rounded to 4 decimals; null when nothing was decided"
    )


class ResolutionTime(BaseModel):
    """Time from opening (`created_at`) to reaching a terminal status (`closed_at`:
    completed, cancelled or closed), over the resolved tickets only."""

    resolved: int = Field(description="tickets in a terminal status")
    median_seconds: float | None = Field(
        description="median (PostgreSQL percentile_cont(0.5)) in seconds; null when none"
    )


class RefundedAmount(BaseModel):
    currency: str = Field(examples=["CNY"])
    amount: MinorUnits = Field(description="sum of succeeded refunds, in minor units")


class SummaryReport(BaseModel):
    """Figures over the tickets in `scope`; events and refunds are those of these tickets."""

    scope: ReportPeriod
    generated_at: datetime
    tickets: int = Field(description="tickets in scope")
    by_type: dict[str, int] = Field(description="tickets per type; every type listed")
    by_status: dict[str, int] = Field(description="tickets per current status; every status")
    by_reason: dict[str, int] = Field(
        description="tickets per reason code, every code; a ticket whose lines have reasons of "
        "their own counts once under each"
    )
    by_channel: dict[str, int] = Field(
        description="tickets per channel they came from (app, web, mini_program, support_chat, "
        "api); every channel"
    )
    approval: ApprovalRate
    resolution: ResolutionTime
    refunded: list[RefundedAmount] = Field(
        description="per currency, refunds with status `succeeded` only (not pending, failed "
        "or reversed); by currency code"
    )
    auto_approvals: int = Field(
        description="timeline events approving without a person (the merchant's review timed "
        "out, or a refund before shipment): " + _names(AUTO_APPROVAL_EVENTS)
    )
    timeouts: dict[str, int] = Field(
        description="timeline events a deadline caused, per event name, every kind listed: "
        + _names(TIMEOUT_EVENTS)
    )
    escalations: int = Field(
        description="tickets handed to support (the ticket's `escalated` flag: by buyer, "
        "merchant, or automatically instead of an automatic decision)"
    )
