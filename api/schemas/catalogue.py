"""Bodies of the merchant catalogue endpoints: the items an exchange may replace goods with."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from api.schemas.base import Amount, RequestModel
from domain.money import CurrencyCode


class CatalogueItemBody(RequestModel):
    title: str = Field(min_length=1, max_length=300)
    currency: CurrencyCode
    unit_price: Amount = Field(description="minor units of `currency`; what a replacement costs")
    available: bool = Field(True, description="false: not offered as a replacement for now")


class CatalogueItemView(BaseModel):
    merchant_id: str
    sku: str
    title: str
    currency: str
    currency_exponent: int = Field(description="digits of the minor units: 2 for CNY, 0 for JPY")
    unit_price: int
    available: bool
    updated_at: datetime
