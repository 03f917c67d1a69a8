"""What the engine needs from a payout provider: send a refund by bank transfer to the buyer's
account, and report the transfer's status.

A payout is a refund by bank transfer, so the provider's view of it is a `ProviderRefund` with the
same statuses and the same two errors: `PaymentProviderUnavailable` (retry with the same key) and
`RefundRefused` (final; `invalid_account` when the bank account cannot receive a transfer).
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, Field

from adapters.payments.port import (
    PaymentProviderUnavailable,
    ProviderRefund,
    RefundRefused,
)
from domain.bank_accounts import BankAccount

__all__ = [
    "PaymentProviderUnavailable",
    "PayoutCommand",
    "PayoutGateway",
    "ProviderRefund",
    "RefundRefused",
]


class PayoutCommand(BaseModel):
    """One transfer, keyed by the idempotency key the workflow minted before the first call."""

    idempotency_key: str = Field(min_length=1, max_length=255)
    amount: int = Field(gt=0, strict=True)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    account: BankAccount
    # What the buyer's bank statement shows, e.g. the order id.
    reference: str = Field(min_length=1, max_length=255)
    metadata: dict[str, str] = Field(default_factory=dict)


class PayoutGateway(Protocol):
    name: str

    async def create_payout(self, command: PayoutCommand) -> ProviderRefund: ...

    async def get_payout(self, provider_payout_id: str) -> ProviderRefund: ...
