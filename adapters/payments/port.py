"""What the engine needs from a payment provider: refund money, report a refund's status.

Amounts are integers in the currency's minor unit. Every refund carries an idempotency key that the
workflow minted and stored before the first call, so a retried call can never refund twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Protocol

from pydantic import BaseModel, Field

from domain.money import MAX_ANY_AMOUNT
from domain.text import StorableText
from domain.tickets import RefundStatus

# Unix seconds up to the last second of year 9999: a provider's timestamp as a real date.
UnixSeconds = Annotated[int, Field(ge=0, le=253_402_300_799)]


class RefundCommand(BaseModel):
    idempotency_key: str = Field(min_length=1, max_length=255)
    payment_reference: str = Field(min_length=1)
    payment_method: str = Field(min_length=1)
    amount: int = Field(gt=0, strict=True)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    reason: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    # When the original payment was made; providers refuse refunds of payments that are too old.
    payment_created_at: datetime | None = None


class ProviderRefund(BaseModel):
    """Bounded as the refund's columns are: a provider's answer never fails a database write."""

    provider: str = Field(max_length=32)
    provider_refund_id: StorableText = Field(min_length=1, max_length=64)
    idempotency_key: StorableText = Field(max_length=255)
    # What a provider reports: pending, succeeded, failed or reversed.
    status: RefundStatus
    amount: int = Field(ge=0, le=MAX_ANY_AMOUNT)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    failure_reason: StorableText | None = Field(max_length=2000)
    created_at: datetime
    updated_at: datetime


class PaymentEvent(BaseModel):
    """A verified provider webhook: `refund.succeeded`, `refund.failed` or `refund.reversed`."""

    event_id: StorableText = Field(min_length=1, max_length=64)
    type: str = Field(max_length=64)
    created_at: datetime
    refund: ProviderRefund


class PaymentProviderUnavailable(Exception):
    """Transient: network error, timeout, 5xx or 429. The same call, same key, may be retried."""


class RefundRefused(Exception):
    """Final: the provider will not make this refund (`payment_too_old`, `idempotency_key_reused`,
    `amount_exceeds_payment`, `unknown_payment`, ...). Retrying the same call cannot help."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message or code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class PaymentGateway(Protocol):
    name: str

    async def create_refund(self, command: RefundCommand) -> ProviderRefund: ...

    async def get_refund(self, provider_refund_id: str) -> ProviderRefund: ...
