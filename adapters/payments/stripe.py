"""Stripe behind the PaymentGateway port, on the official `stripe` SDK (its async API).

Stripe keeps an idempotency key for 24 hours only, so a refund retried later (a worker that died
after Stripe accepted it and came back the next day) could be made twice. Our key therefore also
travels in the refund's metadata, and before creating a refund we look for one already carrying it
on the same charge or PaymentIntent. The Stripe `Idempotency-Key` still covers two attempts racing
within the day.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import stripe
from pydantic import BaseModel, Field
from stripe.params import RefundCreateParams, RefundListParams

from adapters.payments.port import (
    PaymentEvent,
    PaymentProviderUnavailable,
    ProviderRefund,
    RefundCommand,
    RefundRefused,
    UnixSeconds,
)
from domain.tickets import RefundStatus

PROVIDER_NAME = "stripe"
SIGNATURE_HEADER = "Stripe-Signature"
# The metadata entry that carries our idempotency key on every refund we create.
KEY_METADATA = "idempotency_key"

# Stripe takes three-decimal currencies in thousandths, but only in multiples of ten.
_THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
_STATUSES = {
    "pending": RefundStatus.pending,
    "requires_action": RefundStatus.pending,
    "succeeded": RefundStatus.succeeded,
    "failed": RefundStatus.failed,
    "canceled": RefundStatus.failed,
}
# Stripe error codes that are final for this refund, as the port's stable codes.
_REFUSALS = {
    "charge_already_refunded": "amount_exceeds_payment",
    "amount_too_large": "amount_exceeds_payment",
    "charge_disputed": "payment_disputed",
    "charge_not_refundable": "payment_not_refundable",
    "charge_expired_for_refund": "payment_too_old",
    "resource_missing": "unknown_payment",
    "refund_disputed_payment": "payment_disputed",
}
_REFUND_EVENTS = frozenset(
    {"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"}
)


class _WireRefund(BaseModel):
    id: str
    status: str
    amount: int
    currency: str
    created: UnixSeconds
    failure_reason: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)

    def to_port(self, updated_at: datetime, status: RefundStatus | None = None) -> ProviderRefund:
        status = status or _STATUSES.get(self.status, RefundStatus.pending)
        reason = self.failure_reason
        if status is RefundStatus.failed and not reason:
            reason = self.status  # `canceled` (or `failed` without a reason) says why
        return ProviderRefund(
            provider=PROVIDER_NAME,
            provider_refund_id=self.id,
            idempotency_key=self.metadata.get(KEY_METADATA, ""),
            status=status,
            amount=self.amount,
            currency=self.currency.upper(),
            failure_reason=reason,
            created_at=datetime.fromtimestamp(self.created, UTC),
            updated_at=updated_at,
        )


class _WireEventData(BaseModel):
    object: dict[str, Any]
    previous_attributes: dict[str, Any] = Field(default_factory=dict)


class _WireEvent(BaseModel):
    id: str
    type: str
    created: UnixSeconds
    data: _WireEventData


def parse_webhook_event(raw_body: bytes) -> PaymentEvent | None:
    """A Stripe event, already verified with `signing.verify` under SIGNATURE_HEADER, as a
    PaymentEvent; None when it says nothing final about a refund (other objects, pending).

    Raises pydantic.ValidationError (a ValueError) when the body is not a Stripe event."""
    event = _WireEvent.model_validate_json(raw_body)
    if event.type not in _REFUND_EVENTS or event.data.object.get("object") != "refund":
        return None
    wire = _WireRefund.model_validate(event.data.object)
    status = _STATUSES.get(wire.status, RefundStatus.pending)
    # Stripe moves a refund that failed after succeeding to `failed`; the event's previous
    # attributes are the only place that says it had succeeded.
    if status is RefundStatus.failed and event.data.previous_attributes.get("status") == (
        "succeeded"
    ):
        status = RefundStatus.reversed
    if status is RefundStatus.pending:
        return None
    created_at = datetime.fromtimestamp(event.created, UTC)
    return PaymentEvent(
        event_id=event.id,
        type=f"refund.{status.value}",
        created_at=created_at,
        refund=wire.to_port(updated_at=created_at, status=status),
    )


class StripeGateway:
    name = PROVIDER_NAME

    def __init__(
        self,
        api_key: str,
        api_base: str | None = None,
        *,
        timeout: float = 30.0,
        max_network_retries: int = 0,
    ) -> None:
        """`api_base` points at another Stripe-compatible server (localstripe in tests).

        Network retries are left to the caller (the activity's retry policy) by default."""
        self._http = stripe.HTTPXClient(timeout=timeout)
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base.rstrip("/")} if api_base else {},
            http_client=self._http,
            max_network_retries=max_network_retries,
        )

    async def create_refund(self, command: RefundCommand) -> ProviderRefund:
        if command.currency in _THREE_DECIMAL and command.amount % 10:
            raise RefundRefused(
                "amount_not_supported",
                f"Stripe takes {command.currency} amounts in multiples of 10 minor units",
            )
        target = _target_of(command.payment_reference)
        try:
            existing = await self._refund_with_key(target, command.idempotency_key)
            if existing is not None:
                return _checked_replay(existing, command)
            await self._check_refundable(target, command)
            # Stripe's own `reason` takes three fixed values; ours is free text for people.
            metadata = {**command.metadata, KEY_METADATA: command.idempotency_key}
            if command.reason:
                metadata["reason"] = command.reason
            params: RefundCreateParams = {"amount": command.amount, "metadata": metadata}
            if "payment_intent" in target:
                params["payment_intent"] = target["payment_intent"]
            else:
                params["charge"] = target["charge"]
            refund = await self._client.v1.refunds.create_async(
                params=params, options={"idempotency_key": command.idempotency_key}
            )
        except stripe.StripeError as error:
            raise _translated(error) from error
        return _port(refund)

    async def get_refund(self, provider_refund_id: str) -> ProviderRefund:
        try:
            refund = await self._client.v1.refunds.retrieve_async(provider_refund_id)
        except stripe.StripeError as error:
            raise _translated(error) from error
        return _port(refund)

    async def aclose(self) -> None:
        await self._http.close_async()

    async def _refund_with_key(self, target: RefundListParams, key: str) -> _WireRefund | None:
        page = await self._client.v1.refunds.list_async(params={**target, "limit": 100})
        async for refund in page.auto_paging_iter():
            wire = _wire(refund)
            if wire.metadata.get(KEY_METADATA) == key:
                return wire
        return None

    async def _check_refundable(self, target: RefundListParams, command: RefundCommand) -> None:
        """Refuse what Stripe would refuse anyway, with our codes (localstripe checks neither)."""
        if "payment_intent" in target:
            intent = await self._client.v1.payment_intents.retrieve_async(
                target["payment_intent"], params={"expand": ["latest_charge"]}
            )
            charge: Any = intent.latest_charge
            if charge is None:
                raise RefundRefused("payment_not_refundable", "the payment has no charge")
            if isinstance(charge, str):
                charge = await self._client.v1.charges.retrieve_async(charge)
        else:
            charge = await self._client.v1.charges.retrieve_async(target["charge"])
        if str(charge.currency).upper() != command.currency:
            raise RefundRefused(
                "currency_mismatch",
                f"the payment is in {str(charge.currency).upper()}, not {command.currency}",
            )
        left = int(charge.amount) - int(charge.amount_refunded)
        if command.amount > left:
            raise RefundRefused(
                "amount_exceeds_payment", f"{command.amount} asked, {left} left to refund"
            )


def _target_of(payment_reference: str) -> RefundListParams:
    if payment_reference.startswith("pi_"):
        return {"payment_intent": payment_reference}
    if payment_reference.startswith(("ch_", "py_")):
        return {"charge": payment_reference}
    raise RefundRefused(
        "unknown_payment", f"{payment_reference!r} is neither a Stripe charge nor a PaymentIntent"
    )


def _wire(refund: stripe.Refund) -> _WireRefund:
    return _WireRefund.model_validate(refund.to_dict())


def _port(refund: stripe.Refund) -> ProviderRefund:
    return _wire(refund).to_port(updated_at=datetime.now(UTC))


def _checked_replay(existing: _WireRefund, command: RefundCommand) -> ProviderRefund:
    if existing.amount != command.amount or existing.currency.upper() != command.currency:
        raise RefundRefused(
            "idempotency_key_reused",
            f"refund {existing.id} under this key is for {existing.amount} "
            f"{existing.currency.upper()}",
        )
    return existing.to_port(updated_at=datetime.now(UTC))


def _translated(error: stripe.StripeError) -> Exception:
    """Stripe's exception as the port's: transient trouble may be retried, refusals are final."""
    status = error.http_status
    transient = (
        stripe.APIConnectionError,
        stripe.APIError,
        stripe.RateLimitError,
        stripe.AuthenticationError,
        stripe.PermissionError,
    )
    # A rejected API key is our configuration, not this refund: the same call succeeds once fixed.
    if isinstance(error, transient) or status is None or status >= 500 or status in (408, 429):
        return PaymentProviderUnavailable(f"stripe: {type(error).__name__} {status}: {error}")
    if isinstance(error, stripe.IdempotencyError):
        return RefundRefused("idempotency_key_reused", str(error))
    if error.code == "lock_timeout":
        return PaymentProviderUnavailable(f"stripe: lock_timeout: {error}")
    code = _REFUSALS.get(error.code or "")
    if code is None:
        code = "unknown_payment" if status == 404 else f"stripe_{error.code or 'invalid_request'}"
    return RefundRefused(code, error.user_message or str(error))
