"""The summary report for merchants and support (SPEC §7): what each figure counts."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from api.schemas.orders import MinorUnits


class ReportPeriod(BaseModel):
    """Tickets opened in [created_from, created_to); an open end is unbounded."""

    merchant_id: str | None = Field(description="the shop reported on; null means every shop")
    created_from: datetime | None
    created_to: datetime | None


class ApprovalRate(BaseModel):
    """A ticket is decided once its timeline holds a decision event, and its outcome is its
    latest one. Approvals: `approved_by_merchant`, `approved_automatically`, `approved_by_rule`,
    `arbitrated_refund`, `arbitrated_partial_refund`. Rejections: `rejected_by_merchant`,
    `second_approval_declined`, `arbitrated_reject`, `arbitrated_return_to_buyer`. So a
    rejection overturned by a refund in arbitration counts as approved, and an approval the
    second approver declined as rejected; tickets cancelled or still waiting for a decision
    count in neither figure."""

    approved: int = Field(description="decided tickets whose latest decision approves")
    decided: int = Field(description="tickets with at least one decision event")
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
    by_reason: dict[str, int] = Field(description="tickets per reason code; every code")
    approval: ApprovalRate
    resolution: ResolutionTime
    refunded: list[RefundedAmount] = Field(
        description="per currency, refunds with status `succeeded` only (not pending, failed "
        "or reversed); by currency code"
    )
    auto_approvals: int = Field(
        description="`approved_automatically` (merchant review timed out) plus "
        "`approved_by_rule` (refund before shipment) timeline events"
    )
    timeouts: dict[str, int] = Field(
        description="timeline events a deadline caused, per event name, every kind listed: "
        "approved_automatically, escalated_instead_of_auto_approval, buyer_return_timeout, "
        "return_delivery_overdue, checkin_timeout, escalated_instead_of_auto_acceptance, "
        "closed_after_rejection, resolve_inspection_timeout, reship_timeout, "
        "receipt_timeout, settlement_overdue"
    )
    escalations: int = Field(
        description="tickets handed to support (the ticket's `escalated` flag: by buyer, "
        "merchant, or automatically instead of an automatic decision)"
    )
