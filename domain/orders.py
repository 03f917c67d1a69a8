"""The order as the platform reports it, and the order's after-sales status."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from domain.money import CurrencyCode, MinorUnits, format_minor, max_amount

Quantity = Annotated[int, Field(strict=True, gt=0)]


class OrderStatus(StrEnum):
    paid = "paid"
    shipped = "shipped"
    delivered = "delivered"
    completed = "completed"


class OrderLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    line_id: str = Field(min_length=1, max_length=64)
    sku: str
    title: str
    quantity: Quantity
    unit_price: MinorUnits
    discount: MinorUnits = 0
    """Coupons, points and promotions allocated to this line; never paid back as cash."""
    tags: tuple[str, ...] = ()
    """The product's tags in the shop (clearance, fragile, ...); merchant rules read them."""

    @model_validator(mode="after")
    def _discount_within_price(self) -> OrderLine:
        gross = self.quantity * self.unit_price
        if self.discount > gross:
            raise ValueError(
                f"line {self.line_id}: discount {self.discount} exceeds "
                f"quantity x unit_price = {gross}"
            )
        return self

    @property
    def cost(self) -> int:
        """What the line cost the buyer: quantity x unit price - discount."""
        return self.quantity * self.unit_price - self.discount


class Payment(BaseModel):
    model_config = ConfigDict(frozen=True)

    provider: str
    reference: str
    method: str
    """card, wallet, bank, ..."""
    paid_total: MinorUnits
    paid_at: datetime | None = None
    """When the buyer paid; providers refuse refunds of payments older than they allow."""


class OrderSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True)

    order_id: str = Field(min_length=1)
    buyer_id: str = Field(min_length=1)
    merchant_id: str = Field(min_length=1)
    currency: CurrencyCode
    lines: list[OrderLine] = Field(min_length=1)
    shipping_fee: MinorUnits = 0
    payment: Payment
    status: OrderStatus
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    shipping_address: str | None = None
    """Where the order was delivered: the buyer ships a return from there."""
    version: Quantity = 1

    @field_validator("lines", "shipping_fee", "payment", mode="after")
    @classmethod
    def _within_currency_bound(cls, value: object, info: ValidationInfo) -> object:
        currency = info.data.get("currency")
        if currency is None:
            return value  # the currency itself was refused
        limit = max_amount(currency)
        for name, amount in _amounts(info.field_name or "", value):
            if amount > limit:
                raise ValueError(
                    f"{name} {amount} is above the largest {currency} amount, "
                    f"{format_minor(limit, currency)}"
                )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> OrderSnapshot:
        ids = [line.line_id for line in self.lines]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate line_id: {', '.join(duplicates)}")
        expected = self.items_total + self.shipping_fee
        if self.payment.paid_total != expected:
            raise ValueError(
                f"payment.paid_total {self.payment.paid_total} != sum of line costs "
                f"{self.items_total} + shipping_fee {self.shipping_fee} = {expected}"
            )
        return self

    @property
    def is_shipped(self) -> bool:
        return self.status != OrderStatus.paid

    @property
    def items_total(self) -> int:
        return sum(line.cost for line in self.lines)

    def line(self, line_id: str) -> OrderLine:
        for line in self.lines:
            if line.line_id == line_id:
                return line
        raise KeyError(line_id)


def _amounts(field: str, value: object) -> list[tuple[str, int]]:
    if isinstance(value, int):
        return [(field, value)]
    if isinstance(value, Payment):
        return [("payment.paid_total", value.paid_total)]
    if isinstance(value, list):
        return [
            (f"lines[{i}].{name}", getattr(line, name))
            for i, line in enumerate(value)
            for name in ("unit_price", "discount")
        ] + [
            (f"lines[{i}] quantity x unit_price", line.quantity * line.unit_price)
            for i, line in enumerate(value)
        ]
    return []


class AfterSalesStatus(StrEnum):
    none = "none"
    refunding = "refunding"
    partially_refunded = "partially_refunded"
    refunded = "refunded"


def after_sales_status(
    paid_total: int, refunded_total: int, refund_in_flight: bool
) -> AfterSalesStatus:
    """The order's after-sales status from its money: a refund under way wins."""
    if refund_in_flight:
        return AfterSalesStatus.refunding
    if paid_total > 0 and refunded_total >= paid_total:
        return AfterSalesStatus.refunded
    if 0 < refunded_total < paid_total:
        return AfterSalesStatus.partially_refunded
    return AfterSalesStatus.none
