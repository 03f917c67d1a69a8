"""The policy a new ticket is opened under: global settings, then the merchant's stored overrides.

A ticket freezes the result (its `TicketPolicy`) at opening, so a merchant changing its policy
affects new tickets only (SPEC §3).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import TicketPolicy
from domain.eligibility import ReturnWindows
from domain.money import default_second_approval_threshold
from domain.refund_terms import RefundPolicy
from persistence.models import MerchantPolicy
from persistence.policies import get_policy
from settings import Settings


class PolicyValues(BaseModel):
    """Every value a merchant may override, as it applies to that merchant's new tickets."""

    merchant_review: timedelta
    buyer_return: timedelta
    return_delivery: timedelta
    warehouse_checkin: timedelta
    buyer_after_rejection: timedelta
    resolve_inspection: timedelta
    reship: timedelta
    confirm_receipt: timedelta
    refund_settlement: timedelta
    review_reminders: list[timedelta]
    no_reason_return_window: timedelta
    merchant_fault_window: timedelta
    max_applications_per_line: int
    refund_shipping_on_merchant_fault: bool
    # Minor units in the order's currency, for every currency of the merchant; None leaves the
    # global per-currency thresholds in force.
    second_approval_threshold: int | None = None

    @property
    def windows(self) -> ReturnWindows:
        return ReturnWindows(
            no_reason=self.no_reason_return_window, merchant_fault=self.merchant_fault_window
        )


OVERRIDABLE_KEYS = frozenset(PolicyValues.model_fields)


@dataclass(frozen=True)
class AppliedPolicy:
    """The policy in force for one merchant, and which version of it that is."""

    version: str
    values: PolicyValues
    overrides: dict[str, Any] = field(default_factory=dict)
    revision: int = 0
    updated_by: str | None = None
    updated_at: datetime | None = None


def global_values(settings: Settings) -> PolicyValues:
    deadlines = settings.deadlines
    return PolicyValues(
        merchant_review=deadlines.merchant_review,
        buyer_return=deadlines.buyer_return,
        return_delivery=deadlines.return_delivery,
        warehouse_checkin=deadlines.warehouse_checkin,
        buyer_after_rejection=deadlines.buyer_after_rejection,
        resolve_inspection=deadlines.resolve_inspection,
        reship=deadlines.reship,
        confirm_receipt=deadlines.confirm_receipt,
        refund_settlement=deadlines.refund_settlement,
        review_reminders=list(settings.reminders.reminders_before_review_deadline),
        no_reason_return_window=settings.policy.no_reason_return_window,
        merchant_fault_window=settings.policy.merchant_fault_window,
        max_applications_per_line=settings.policy.max_applications_per_line,
        refund_shipping_on_merchant_fault=settings.money.shipping_on_merchant_fault,
    )


def global_version(settings: Settings) -> str:
    """`global-<hash8>`: changes whenever any global value a ticket could freeze changes."""
    content = {
        **global_values(settings).model_dump(mode="json"),
        "second_approval_thresholds": settings.money.second_approval_thresholds,
        "refund_status_poll": settings.money.status_poll_interval.total_seconds(),
    }
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    return f"global-{digest[:8]}"


def applied_policy(
    settings: Settings, merchant_id: str, stored: MerchantPolicy | None
) -> AppliedPolicy:
    """Global values, then the stored overrides; without overrides the global version applies."""
    base = global_values(settings)
    if stored is None:
        return AppliedPolicy(version=global_version(settings), values=base)
    overrides = {k: v for k, v in stored.overrides.items() if k in OVERRIDABLE_KEYS}
    values = PolicyValues.model_validate({**base.model_dump(), **overrides})
    return AppliedPolicy(
        version=f"{merchant_id}-v{stored.version}" if overrides else global_version(settings),
        values=values,
        overrides=overrides,
        revision=stored.version,
        updated_by=stored.updated_by,
        updated_at=stored.updated_at,
    )


async def merchant_policy(
    session: AsyncSession, settings: Settings, merchant_id: str
) -> AppliedPolicy:
    return applied_policy(settings, merchant_id, await get_policy(session, merchant_id))


def _threshold(settings: Settings, currency: str, values: PolicyValues) -> int:
    if values.second_approval_threshold is not None:
        return values.second_approval_threshold
    return settings.money.second_approval_thresholds.get(
        currency, default_second_approval_threshold(currency)
    )


def ticket_policy(
    settings: Settings, currency: str, applied: AppliedPolicy | None = None
) -> TicketPolicy:
    """What a ticket in `currency` freezes at opening; the global policy without `applied`."""
    applied = applied or applied_policy(settings, "", None)
    values = applied.values
    return TicketPolicy(
        version=applied.version,
        merchant_review=values.merchant_review,
        buyer_after_rejection=values.buyer_after_rejection,
        refund_settlement=values.refund_settlement,
        refund_status_poll=settings.money.status_poll_interval,
        second_approval_threshold=_threshold(settings, currency, values),
        refund_shipping_on_merchant_fault=values.refund_shipping_on_merchant_fault,
        review_reminders=list(values.review_reminders),
        buyer_return=values.buyer_return,
        return_delivery=values.return_delivery,
        warehouse_checkin=values.warehouse_checkin,
        resolve_inspection=values.resolve_inspection,
        reship=values.reship,
        confirm_receipt=values.confirm_receipt,
    )


def refund_policy(
    settings: Settings, currency: str, applied: AppliedPolicy | None = None
) -> RefundPolicy:
    policy = ticket_policy(settings, currency, applied)
    return RefundPolicy(
        refund_shipping_on_merchant_fault=policy.refund_shipping_on_merchant_fault,
        second_approval_thresholds={currency: policy.second_approval_threshold},
    )
