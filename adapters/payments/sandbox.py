"""The sandbox payment provider's HTTP API behind the PaymentGateway port, and its webhooks.

One provider, one webhook endpoint: its events report refunds (`refund.*`) and bank-transfer
payouts (`payout.*`) alike, so both are read here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, Discriminator, Tag

from adapters.payments.port import (
    PaymentEvent,
    PaymentProviderUnavailable,
    ProviderRefund,
    RefundCommand,
    RefundRefused,
    UnixSeconds,
)
from adapters.sandbox_client import SandboxClient
from domain.tickets import RefundStatus

PROVIDER_NAME = "sandbox"
PAYOUTS_PROVIDER_NAME = "sandbox-payouts"


class _WireRefund(BaseModel):
    provider_name: ClassVar[str] = PROVIDER_NAME

    id: str
    status: RefundStatus
    amount: int
    currency: str
    idempotency_key: str
    failure_reason: str | None = None
    created_at: datetime
    updated_at: datetime

    def to_port(self) -> ProviderRefund:
        return ProviderRefund(
            provider=self.provider_name,
            provider_refund_id=self.id,
            idempotency_key=self.idempotency_key,
            status=self.status,
            amount=self.amount,
            currency=self.currency,
            failure_reason=self.failure_reason,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class WirePayout(_WireRefund):
    """A payout object: money back to the buyer by bank transfer. The engine reads the same
    fields as of a refund; the account itself stays with the provider."""

    provider_name: ClassVar[str] = PAYOUTS_PROVIDER_NAME


def _object_kind(data: Any) -> str:
    kind = data.get("object") if isinstance(data, dict) else getattr(data, "object", None)
    return "payout" if kind == "payout" else "refund"


class _WireEvent(BaseModel):
    id: str
    type: str
    created: UnixSeconds
    data: Annotated[
        Annotated[_WireRefund, Tag("refund")] | Annotated[WirePayout, Tag("payout")],
        Discriminator(_object_kind),
    ]


def parse_webhook_event(raw_body: bytes) -> PaymentEvent:
    """A webhook body, already verified with `signing.verify`, as a PaymentEvent. For a `payout.*`
    event, `refund` is the payout (provider `sandbox-payouts`, provider_refund_id its `po_` id).

    Raises pydantic.ValidationError (a ValueError) when the body is not a sandbox event."""
    event = _WireEvent.model_validate_json(raw_body)
    return PaymentEvent(
        event_id=event.id,
        type=event.type,
        created_at=datetime.fromtimestamp(event.created, UTC),
        refund=event.data.to_port(),
    )


class SandboxProviderClient(SandboxClient):
    """A client of the sandbox payment provider's API, refunds and payouts alike."""

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = self._base_url + path
        return await send(self._client, method, url, timeout=self._timeout, **kwargs)


class SandboxPaymentGateway(SandboxProviderClient):
    name = PROVIDER_NAME

    async def create_refund(self, command: RefundCommand) -> ProviderRefund:
        body = command.model_dump(mode="json", exclude={"idempotency_key"}, exclude_none=True)
        headers = {**self._headers, "Idempotency-Key": command.idempotency_key}
        response = await self._send("POST", "/v1/refunds", json=body, headers=headers)
        return _WireRefund.model_validate_json(response.content).to_port()

    async def get_refund(self, provider_refund_id: str) -> ProviderRefund:
        path = f"/v1/refunds/{quote(provider_refund_id, safe='')}"
        response = await self._send("GET", path, headers=self._headers)
        return _WireRefund.model_validate_json(response.content).to_port()


async def send(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One call to the sandbox's API (`kwargs` as for `httpx.AsyncClient.request`): its answer when
    2xx, else PaymentProviderUnavailable (worth retrying with the same key) or RefundRefused (final,
    with the provider's error code)."""
    try:
        response = await client.request(method, url, **kwargs)
    except httpx.TransportError as exc:
        raise PaymentProviderUnavailable(f"sandbox unreachable: {exc!r}") from exc
    status = response.status_code
    if response.is_success:
        return response
    code, message = error_of(response)
    # Server trouble, throttling, and a rejected API key are not about this refund or payout: the
    # same call succeeds once the provider (or our configuration) is healthy again.
    if status >= 500 or status in (401, 403, 408, 429):
        raise PaymentProviderUnavailable(f"sandbox answered {status} {code}: {message}")
    raise RefundRefused(code, message)


def error_of(response: httpx.Response) -> tuple[str, str]:
    """The provider's `{"code", "message"}` of an error answer, or `http_<status>` without one."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        return body["code"], str(body.get("message") or body["code"])
    return f"http_{response.status_code}", response.text[:200] or response.reason_phrase
