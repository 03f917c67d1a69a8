"""The sandbox payment provider's payouts API behind the PayoutGateway port.

Payout webhooks come to the same endpoint as refund ones and are read by
`adapters.payments.sandbox.parse_webhook_event`.
"""

from __future__ import annotations

from urllib.parse import quote

from adapters.payments.port import ProviderRefund
from adapters.payments.sandbox import PAYOUTS_PROVIDER_NAME, SandboxProviderClient, WirePayout
from adapters.payouts.port import PayoutCommand


class SandboxPayoutGateway(SandboxProviderClient):
    name = PAYOUTS_PROVIDER_NAME

    async def create_payout(self, command: PayoutCommand) -> ProviderRefund:
        body = command.model_dump(mode="json", exclude={"idempotency_key"})
        headers = {**self._headers, "Idempotency-Key": command.idempotency_key}
        response = await self._send("POST", "/v1/payouts", json=body, headers=headers)
        return WirePayout.model_validate_json(response.content).to_port()

    async def get_payout(self, provider_payout_id: str) -> ProviderRefund:
        path = f"/v1/payouts/{quote(provider_payout_id, safe='')}"
        response = await self._send("GET", path, headers=self._headers)
        return WirePayout.model_validate_json(response.content).to_port()
