"""Request and response bodies of the merchant policy endpoints."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from settings import Duration

# ISO 8601 (`PT48H`, `P7D`) or seconds, and never zero or negative.
PositiveDuration = Annotated[Duration, Field(gt=timedelta(0))]


class PolicyUpdate(BaseModel):
    """The merchant's overrides; keys left out (or null) follow the global policy."""

    model_config = ConfigDict(extra="forbid")

    merchant_review: PositiveDuration | None = None
    buyer_return: PositiveDuration | None = None
    return_delivery: PositiveDuration | None = None
    warehouse_checkin: PositiveDuration | None = None
    buyer_after_rejection: PositiveDuration | None = None
    resolve_inspection: PositiveDuration | None = None
    reship: PositiveDuration | None = None
    confirm_receipt: PositiveDuration | None = None
    refund_settlement: PositiveDuration | None = None
    review_reminders: list[PositiveDuration] | None = Field(
        None, max_length=10, description="before the merchant review deadline"
    )
    no_reason_return_window: PositiveDuration | None = None
    merchant_fault_window: PositiveDuration | None = None
    max_applications_per_line: int | None = Field(None, ge=1, le=10)
    refund_shipping_on_merchant_fault: bool | None = None
    second_approval_threshold: int | None = Field(
        None, ge=0, description="minor units of the order's currency, for all currencies"
    )


class EffectivePolicy(BaseModel):
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
    second_approval_threshold: int | None = Field(
        description="null: the global per-currency thresholds apply"
    )


class PolicyView(BaseModel):
    merchant_id: str
    version: str = Field(
        description="what new tickets record: `global-<hash>` or `<merchant>-v<n>`"
    )
    revision: int = Field(description="changes stored for this merchant so far")
    effective: EffectivePolicy
    overrides: dict[str, Any]
    updated_by: str | None
    updated_at: datetime | None
