"""Signed outbound webhooks to merchants and the shop's order system.

`Aftersales-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of f"{t}." + raw body>`, the same
scheme the payment sandbox uses towards us, so a receiver verifies the exact bytes it received.
`Aftersales-Delivery` is stable across retries: receivers drop a delivery they already have.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from adapters.notifications import DeliveryFailed
from adapters.webhook_signing import sign

SIGNATURE_HEADER = "Aftersales-Signature"
DELIVERY_HEADER = "Aftersales-Delivery"


class SignedWebhooks:
    def __init__(self, secret: str, timeout: float = 10.0) -> None:
        self._secret = secret
        self._timeout = timeout

    async def post(self, url: str, payload: dict[str, Any], delivery_id: str) -> str:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self._secret, body, int(time.time())),
            DELIVERY_HEADER: delivery_id,
        }
        try:
            # A client per call: deliveries are few, and nothing is left open to close.
            async with httpx.AsyncClient(timeout=self._timeout) as http:
                answer = await http.post(url, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise DeliveryFailed(f"POST {url}: {type(error).__name__}: {error}") from error
        if not answer.is_success:
            raise DeliveryFailed(f"POST {url}: HTTP {answer.status_code}")
        return f"HTTP {answer.status_code}"
