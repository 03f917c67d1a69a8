"""A buyer's store credit: balances per currency, the ledger entries behind them, coupons."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class BalanceEntryView(BaseModel):
    entry_id: int
    currency: str
    amount: int = Field(description="signed minor units: credits positive")
    kind: str
    memo: str
    conversion: dict[str, Any] | None
    created_at: datetime


class CouponView(BaseModel):
    code: str
    merchant_id: str
    currency: str
    amount: int
    expires_at: datetime
    redeemed_at: datetime | None
    created_at: datetime


class BuyerCredit(BaseModel):
    buyer_id: str
    balances: dict[str, int] = Field(description="currency -> minor units: the sum of entries")
    entries: list[BalanceEntryView] = Field(description="newest first, at most 100")
    coupons: list[CouponView]
