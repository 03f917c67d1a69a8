"""Ports to the outside world that carries notifications: mail, text messages, webhooks.

Each adapter returns the provider's reference for what it sent and raises `DeliveryFailed` when
it could not hand the message over; the caller records the failure and retries later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class DeliveryFailed(Exception):
    """The message was not accepted (network error, refusal, non-2xx answer)."""


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    body: str
    locale: str
    # Stable across retries, so mail systems can drop a duplicate of the same notification.
    message_id: str


class Mailer(Protocol):
    async def send(self, email: Email) -> str:
        """Hand the mail to the SMTP server; the Message-ID sent."""
        ...


class SmsGateway(Protocol):
    async def send(self, to: str, text: str, reference: str) -> str:
        """Send one text message; the provider's message id. `reference` is the caller's
        idempotency key: the same reference twice is one message."""
        ...


class WebhookSender(Protocol):
    async def post(self, url: str, payload: dict[str, Any], delivery_id: str) -> str:
        """POST `payload` signed; a short description of the receiver's answer."""
        ...
