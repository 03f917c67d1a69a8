"""A merchant's after-sales policy (SPEC §2, §3, §4): every value once, with its SPEC default.

The global settings give every value a default, a merchant's stored overrides replace some of them,
and a ticket freezes all but the `OpeningRules` at opening (`contracts.TicketPolicy`), so a change
affects new tickets only (SPEC §3); the opening rules decide only whether a ticket may be opened.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, Field

from domain.eligibility import ReturnWindows
from domain.money import MAX_ANY_AMOUNT

# A deadline or a window: longer than nothing, and at most a year, so that every deadline a ticket
# computes from it is a real date.
MAX_POLICY_DURATION = timedelta(days=366)
PolicyDuration = Annotated[timedelta, Field(gt=timedelta(0), le=MAX_POLICY_DURATION)]
MAX_REMINDERS = 10


class Deadlines(BaseModel):
    """How long each waiting state of SPEC §3 waits before its timeout acts."""

    buyer_evidence: PolicyDuration = Field(
        timedelta(days=3),
        description="the buyer's evidence photos a merchant rule asks for before review; "
        "then closed",
    )
    merchant_review: PolicyDuration = Field(
        timedelta(hours=48),
        description="the merchant's review; then approved, or escalated (risky buyer, large sum)",
    )
    buyer_return: PolicyDuration = Field(
        timedelta(days=7), description="the buyer's ship-back after approval; then cancelled"
    )
    return_delivery: PolicyDuration = Field(
        timedelta(days=15),
        description="the return parcel's delivery after ship-back; then escalated (possible loss)",
    )
    warehouse_checkin: PolicyDuration = Field(
        timedelta(days=10),
        description="the warehouse check-in after the courier reports delivery; then refunded",
    )
    buyer_after_rejection: PolicyDuration = Field(
        timedelta(days=7),
        description="the buyer after a rejection (escalate or re-apply); then closed",
    )
    resolve_inspection: PolicyDuration = Field(
        timedelta(hours=48),
        description="the merchant's answer to a failed inspection; then escalated to support",
    )
    reship: PolicyDuration = Field(
        timedelta(hours=48),
        description="the merchant's reshipment of an exchange; then escalated to support",
    )
    confirm_receipt: PolicyDuration = Field(
        timedelta(days=10),
        description="the buyer's confirmation of a replacement after reship; then completed",
    )
    difference_payment: PolicyDuration = Field(
        timedelta(days=3),
        description="the buyer's payment of a dearer replacement's price difference once the "
        "returned goods are accepted; then the returned goods are refunded instead",
    )
    refund_settlement: PolicyDuration = Field(
        timedelta(days=7),
        description="a refund pending at the payment provider; then support is alerted",
    )
    review_reminders: list[PolicyDuration] = Field(
        default_factory=lambda: [timedelta(hours=24), timedelta(hours=2)],
        max_length=MAX_REMINDERS,
        description="reminders to the merchant, each this long before the review deadline",
    )


class OpeningRules(BaseModel):
    """Who may open a ticket, and until when (SPEC §2); checked once, at opening."""

    no_reason_return_window: PolicyDuration = Field(
        timedelta(days=7),
        description="how long after delivery a buyer-fault (no-reason) ticket may be opened",
    )
    merchant_fault_window: PolicyDuration = Field(
        timedelta(days=15), description="the same for merchant-fault reasons"
    )
    max_applications_per_line: int = Field(
        3, ge=1, le=10, description="tickets that may ever include one order line"
    )

    @property
    def windows(self) -> ReturnWindows:
        return ReturnWindows(
            no_reason=self.no_reason_return_window, merchant_fault=self.merchant_fault_window
        )


class RefundRules(BaseModel):
    """What a ticket refunds besides the goods (SPEC §4)."""

    refund_shipping_on_merchant_fault: bool = Field(
        True, description="refund shipping after shipment for merchant-fault reasons"
    )


class ReturnShipping(BaseModel):
    """How the goods come back."""

    return_labels: bool = Field(
        True,
        description="on approval of a return or exchange, ask the courier for a prepaid return "
        "label (tracking number, drop-off QR code): the buyer ships without typing a tracking "
        "number; off: the buyer ships and sends the tracking number",
    )


# Like a dataclass, a model lists the fields of its last base first: deadlines, rules, refunds,
# return shipping.
class Policy(ReturnShipping, RefundRules, OpeningRules, Deadlines):
    """Every value a merchant's policy sets; what a merchant may override, field for field."""

    # Globally the thresholds are per currency (SPEC §4): not one value of the global policy.
    second_approval_threshold: int | None = Field(
        None,
        ge=0,
        le=MAX_ANY_AMOUNT,
        description="minor units above which a second approver is needed, in every currency; "
        "None: the global per-currency thresholds (5,000.00 each by default)",
    )
