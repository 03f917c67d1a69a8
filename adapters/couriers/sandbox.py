"""The sandbox courier's tracking and label APIs and its webhooks behind the CourierClient port.

Webhook body (one event per delivery; the receiver accepts several):

    {"carrier": "sf", "events": [{"event_id": "ev_...", "tracking_no": "SF123",
      "status": "delivered", "description": "...", "location": "...",
      "occurred_at": "2026-01-02T03:04:05+00:00"}]}
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote, urlsplit

import httpx
from pydantic import BaseModel, Field

from adapters.couriers.port import (
    CourierEvent,
    CourierRefused,
    CourierUnavailable,
    LabelParty,
    ParcelStatus,
    ReturnLabel,
)
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


class _WireLabel(BaseModel):
    label_id: str
    carrier: str
    tracking_no: str
    dropoff_code: str
    document_url: str | None = None
    created_at: datetime


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

    async def create_label(
        self,
        carrier: str,
        reference: str,
        sender: LabelParty,
        recipient: LabelParty,
        idempotency_key: str,
    ) -> ReturnLabel:
        body = {
            "carrier": carrier,
            "reference": reference,
            "sender": sender.model_dump(mode="json"),
            "recipient": recipient.model_dump(mode="json"),
        }
        headers = {**self._headers, "Idempotency-Key": idempotency_key}
        try:
            response = await self._client.post(
                f"{self._base_url}/v1/labels", json=body, headers=headers, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            raise CourierUnavailable(f"courier sandbox unreachable: {exc!r}") from exc
        status = response.status_code
        if not response.is_success:
            code, message = _error_of(response)
            if status >= 500 or status == 429:
                raise CourierUnavailable(f"courier sandbox answered {status} {code}: {message}")
            raise CourierRefused(code, message)
        label = _WireLabel.model_validate_json(response.content)
        return ReturnLabel(
            label_id=label.label_id,
            carrier=label.carrier,
            tracking_no=label.tracking_no,
            dropoff_code=label.dropoff_code,
            document_url=self._absolute(label.document_url),
            created_at=label.created_at,
        )

    def _absolute(self, url: str | None) -> str | None:
        """The courier names its documents by path under its API; an absolute URL stays."""
        if url is None or urlsplit(url).scheme:
            return url
        return f"{self._base_url}/{url.lstrip('/')}"

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


def _error_of(response: httpx.Response) -> tuple[str, str]:
    """The courier's `{"code", "message"}` of an error answer, or `http_<status>` without one."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        return body["code"], str(body.get("message") or body["code"])
    return f"http_{response.status_code}", response.text[:200] or response.reason_phrase
