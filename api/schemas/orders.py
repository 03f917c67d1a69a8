"""Request and response bodies of the order endpoints."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, Field

from domain.orders import OrderStatus
from domain.reasons import ReasonCode

MinorUnits = int


class OrderLineBody(BaseModel):
    line_id: str = Field(min_length=1, max_length=64)
    sku: str = Field(min_length=1, max_length=128)
    title: str = Field(min_length=1, max_length=500)
    quantity: int = Field(gt=0)
    unit_price: MinorUnits = Field(ge=0, description="per unit, in the currency's minor unit")
    discount: MinorUnits = Field(0, ge=0, description="coupons, points and promotions on the line")


class PaymentBody(BaseModel):
    provider: str = Field(min_length=1, max_length=32, examples=["sandbox"])
    reference: str = Field(min_length=1, max_length=128)
    method: str = Field(min_length=1, max_length=32, examples=["card", "wallet"])
    paid_total: MinorUnits = Field(ge=0)
    paid_at: AwareDatetime | None = Field(
        None, description="when the buyer paid; refunds of payments too old go to balance"
    )


class OrderUpsert(BaseModel):
    buyer_id: str = Field(min_length=1, max_length=64)
    merchant_id: str = Field(min_length=1, max_length=64)
    currency: str = Field(min_length=3, max_length=3, examples=["CNY"])
    lines: list[OrderLineBody] = Field(min_length=1)
    shipping_fee: MinorUnits = Field(0, ge=0)
    payment: PaymentBody
    status: OrderStatus
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    version: int = Field(ge=1)


class OrderView(OrderUpsert):
    order_id: str
    after_sales_status: str
    refunded_total: MinorUnits
    closed: bool
    updated_at: datetime


class QuoteLine(BaseModel):
    line_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0)


class QuoteRequest(BaseModel):
    lines: list[QuoteLine] = Field(min_length=1)
    reason_code: ReasonCode
    service_fee: MinorUnits = Field(0, ge=0)
    requested_amount: MinorUnits | None = Field(None, ge=0)


class LineRefundView(BaseModel):
    line_id: str
    quantity: int
    amount: MinorUnits


class QuoteView(BaseModel):
    currency: str
    lines: list[LineRefundView]
    items_amount: MinorUnits
    shipping_amount: MinorUnits
    service_fee: MinorUnits
    maximum: MinorUnits
    total: MinorUnits
    needs_second_approval: bool
    completes_order: bool
    notes: list[str]
