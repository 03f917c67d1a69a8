"""The sandbox payment provider's payouts API behind the PayoutGateway port.

Payout webhooks come to the same endpoint as refund ones and are read by
`adapters.payments.sandbox.parse_webhook_event`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from adapters.payments.port import ProviderRefund
from adapters.payments.sandbox import PAYOUTS_PROVIDER_NAME, WirePayout, send
from adapters.payouts.port import PayoutCommand


class SandboxPayoutGateway:
    name = PAYOUTS_PROVIDER_NAME

    def __init__(
        self,
        base_url: str,
        api_key: str,
        client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._timeout = timeout
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient()

    async def create_payout(self, command: PayoutCommand) -> ProviderRefund:
        body = command.model_dump(mode="json", exclude={"idempotency_key"})
        headers = {**self._headers, "Idempotency-Key": command.idempotency_key}
        response = await self._send("POST", "/v1/payouts", json=body, headers=headers)
        return WirePayout.model_validate_json(response.content).to_port()

    async def get_payout(self, provider_payout_id: str) -> ProviderRefund:
        path = f"/v1/payouts/{quote(provider_payout_id, safe='')}"
        response = await self._send("GET", path, headers=self._headers)
        return WirePayout.model_validate_json(response.content).to_port()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = self._base_url + path
        return await send(self._client, method, url, timeout=self._timeout, **kwargs)
