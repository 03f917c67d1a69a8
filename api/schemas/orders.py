"""Request and response bodies of the order endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from api.schemas.base import (
    Amount,
    AwareDateTime,
    DateTime,
    PositiveAmount,
    Quantity,
    RequestModel,
)
from domain.bounds import MAX_LINE_TAGS, MAX_ORDER_LINES, MAX_VERSION
from domain.orders import OrderStatus
from domain.reasons import ReasonCode

MinorUnits = int


class OrderLineBody(RequestModel):
    line_id: str = Field(min_length=1, max_length=64)
    sku: str = Field(min_length=1, max_length=128)
    title: str = Field(min_length=1, max_length=500)
    quantity: Quantity
    unit_price: Amount = Field(description="per unit, in the currency's minor unit")
    discount: Amount = Field(0, description="coupons, points and promotions on the line")
    tags: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list,
        max_length=MAX_LINE_TAGS,
        description="the product's tags in the shop (clearance, fragile, ...): rules read them",
    )


class PaymentBody(RequestModel):
    provider: str = Field(min_length=1, max_length=32, examples=["sandbox"])
    reference: str = Field(min_length=1, max_length=128)
    method: str = Field(min_length=1, max_length=32, examples=["card", "wallet"])
    paid_total: Amount
    paid_at: AwareDateTime | None = Field(
        None, description="when the buyer paid; refunds of payments too old go to balance"
    )


class OrderUpsert(RequestModel):
    buyer_id: str = Field(min_length=1, max_length=64)
    merchant_id: str = Field(min_length=1, max_length=64)
    currency: str = Field(min_length=3, max_length=3, examples=["CNY"])
    lines: list[OrderLineBody] = Field(min_length=1, max_length=MAX_ORDER_LINES)
    shipping_fee: Amount = 0
    payment: PaymentBody
    status: OrderStatus
    shipped_at: DateTime | None = None
    delivered_at: DateTime | None = None
    shipping_address: str | None = Field(
        None,
        min_length=1,
        max_length=1000,
        description="where the order was delivered: the sender's address on a return label",
    )
    version: int = Field(strict=True, ge=1, le=MAX_VERSION)


class OrderView(OrderUpsert):
    order_id: str
    after_sales_status: str
    refunded_total: MinorUnits
    closed: bool
    updated_at: datetime


class QuoteLine(RequestModel):
    line_id: str = Field(min_length=1, max_length=64)
    quantity: Quantity
    reason_code: ReasonCode | None = Field(
        None, description="this line's own reason; the request's `reason_code` otherwise"
    )


class QuoteRequest(RequestModel):
    lines: list[QuoteLine] = Field(min_length=1, max_length=100)
    reason_code: ReasonCode
    service_fee: Amount = 0
    requested_amount: PositiveAmount | None = None


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
