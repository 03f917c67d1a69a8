"""The sandbox courier's tracking API and webhooks behind the CourierClient port.

Webhook body (one event per delivery; the receiver accepts several):

    {"carrier": "sf", "events": [{"event_id": "ev_...", "tracking_no": "SF123",
      "status": "delivered", "description": "...", "location": "...",
      "occurred_at": "2026-01-02T03:04:05+00:00"}]}
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

import httpx
from pydantic import BaseModel, Field

from adapters.couriers.port import CourierEvent, CourierUnavailable, ParcelStatus
from adapters.sandbox_client import SandboxClient
from domain.text import StorableText

CLIENT_NAME = "sandbox"


class WireEvent(BaseModel):
    event_id: StorableText = Field(min_length=1, max_length=64)
    tracking_no: StorableText = Field(min_length=1, max_length=64)
    status: ParcelStatus
    description: StorableText = Field("", max_length=2000)
    location: StorableText | None = Field(None, max_length=500)
    occurred_at: datetime

    def to_port(self, carrier: str) -> CourierEvent:
        return CourierEvent(carrier=carrier, **self.model_dump())


class WebhookBody(BaseModel):
    carrier: StorableText = Field(min_length=1, max_length=32)
    events: list[WireEvent] = Field(min_length=1, max_length=100)


class _WireParcel(BaseModel):
    carrier: str
    tracking_no: str
    events: list[WireEvent]


def parse_webhook(raw_body: bytes) -> tuple[str, list[CourierEvent]]:
    """A webhook body, already verified with `signing.verify`: its carrier and events.

    Raises pydantic.ValidationError (a ValueError) when the body is not a courier webhook."""
    body = WebhookBody.model_validate_json(raw_body)
    return body.carrier, [event.to_port(body.carrier) for event in body.events]


class SandboxCourierClient(SandboxClient):
    """One sandbox service simulates every configured carrier."""

    name = CLIENT_NAME

    async def track(self, carrier: str, tracking_no: str) -> list[CourierEvent]:
        url = f"{self._base_url}/v1/parcels/{quote(tracking_no, safe='')}"
        try:
            response = await self._client.get(
                url, params={"carrier": carrier}, headers=self._headers, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            raise CourierUnavailable(f"courier sandbox unreachable: {exc!r}") from exc
        if response.status_code == 404:
            # Not scanned yet: the buyer may have booked the parcel but not handed it over.
            return []
        if not response.is_success:
            raise CourierUnavailable(
                f"courier sandbox answered {response.status_code}: {response.text[:200]}"
            )
        parcel = _WireParcel.model_validate_json(response.content)
        return [event.to_port(carrier) for event in parcel.events]

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
