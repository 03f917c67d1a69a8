"""Stripe webhooks: `Stripe-Signature` verified as Stripe signs it, and Stripe events read as ours.

The official SDK's own verifier (`stripe.WebhookSignature.verify_header`) is the oracle: whatever it
accepts we accept, whatever it refuses we refuse.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
import stripe
from pydantic import SecretStr, ValidationError

from adapters.payments.signing import InvalidSignature, sign
from adapters.payments.stripe import SIGNATURE_HEADER, parse_webhook_event
from api.services.payment_events import WebhookSource, webhook_source
from domain.tickets import RefundStatus
from settings import Settings, StripeSettings

SECRET = "whsec_stripe_unit"


def _source() -> WebhookSource:
    settings = Settings(
        stripe=StripeSettings(webhook_secret=SecretStr(SECRET), tolerance=timedelta(minutes=5))
    )
    source = webhook_source("stripe", settings)
    assert source is not None
    return source


def _event(
    status: str = "succeeded",
    event_type: str = "charge.refund.updated",
    previous: dict[str, Any] | None = None,
    **refund: Any,
) -> bytes:
    return json.dumps(
        {
            "id": "evt_1",
            "object": "event",
            "type": event_type,
            "created": 1_760_000_100,
            "data": {
                "object": {
                    "id": "re_1",
                    "object": "refund",
                    "status": status,
                    "amount": 1_230,
                    "currency": "kwd",
                    "created": 1_760_000_000,
                    "failure_reason": None,
                    "metadata": {"idempotency_key": "T-9:1", "ticket_no": "T-9"},
                    **refund,
                },
                "previous_attributes": previous or {},
            },
        }
    ).encode()


def _stripe_accepts(body: bytes, header: str, secret: str = SECRET) -> bool:
    try:
        stripe.WebhookSignature.verify_header(body, header, secret, tolerance=300)
    except stripe.SignatureVerificationError:
        return False
    return True


def test_a_fresh_signature_of_the_body_verifies_and_stripe_agrees() -> None:
    body, now = _event(), int(time.time())
    header = sign(SECRET, body, now)

    event = _source().verified_event(header, body, now=now + 30)

    assert _source().signature_header == SIGNATURE_HEADER == "Stripe-Signature"
    assert event is not None and event.event_id == "evt_1"
    assert _stripe_accepts(body, header)


def test_stripe_headers_with_a_v0_and_a_rotated_secret_verify() -> None:
    body, now = _event(), int(time.time())
    ours = sign(SECRET, body, now).split(",v1=")[1]
    old = sign("whsec_before_rotation", body, now).split(",v1=")[1]
    # Stripe sends a v0 digest in test mode, and a v1 per secret while one is being rotated.
    header = f"t={now},v1={old},v1={ours},v0={'0' * 64}"

    assert _source().verified_event(header, body, now=now) is not None
    assert _stripe_accepts(body, header)


@pytest.mark.parametrize(
    "name", ["wrong secret", "stale", "tampered", "missing", "malformed", "no v1"]
)
def test_a_bad_signature_is_refused_as_stripe_refuses_it(name: str) -> None:
    body, now = _event(status="failed", previous={"status": "succeeded"}), int(time.time())
    header, sent = {
        "wrong secret": (sign("whsec_someone_else", body, now), body),
        "stale": (sign(SECRET, body, now - 301), body),
        "tampered": (sign(SECRET, body, now), body.replace(b'"failed"', b'"succeeded"')),
        "missing": (None, body),
        "malformed": ("v1=abc,t=", body),
        "no v1": (f"t={now},v0={sign(SECRET, body, now).split(',v1=')[1]}", body),
    }[name]

    with pytest.raises(InvalidSignature):
        _source().verified_event(header, sent, now=now)
    assert header is None or not _stripe_accepts(sent, header)


def test_stripe_webhooks_are_refused_until_a_secret_is_configured() -> None:
    assert webhook_source("stripe", Settings(stripe=StripeSettings())) is None
    assert webhook_source("paypal", Settings()) is None
    assert webhook_source("sandbox", Settings()) is not None


def test_a_refund_event_carries_our_key_from_the_metadata() -> None:
    event = parse_webhook_event(_event(event_type="refund.updated"))

    assert event is not None
    assert (event.event_id, event.type) == ("evt_1", "refund.succeeded")
    refund = event.refund
    assert (refund.provider, refund.provider_refund_id, refund.idempotency_key) == (
        "stripe",
        "re_1",
        "T-9:1",
    )
    assert (refund.status, refund.amount, refund.currency) == (
        RefundStatus.succeeded,
        1_230,
        "KWD",
    )
    assert event.created_at.timestamp() == 1_760_000_100


@pytest.mark.parametrize(
    ("status", "previous", "reason", "expected"),
    [
        ("failed", {"status": "pending"}, "insufficient_funds", ("failed", "insufficient_funds")),
        (
            "failed",
            {"status": "succeeded"},
            "lost_or_stolen_card",
            ("reversed", "lost_or_stolen_card"),
        ),
        ("canceled", {"status": "requires_action"}, None, ("failed", "canceled")),
        ("succeeded", {"status": "pending"}, None, ("succeeded", None)),
    ],
)
def test_stripe_statuses_become_ours(
    status: str, previous: dict[str, Any], reason: str | None, expected: tuple[str, str | None]
) -> None:
    event = parse_webhook_event(_event(status, previous=previous, failure_reason=reason))

    assert event is not None
    assert (event.type, event.refund.failure_reason) == (f"refund.{expected[0]}", expected[1])
    assert event.refund.status == expected[0]


def test_events_with_nothing_final_about_a_refund_are_not_ours() -> None:
    pending = _event("pending", event_type="refund.created")
    action = _event("requires_action", event_type="refund.updated")
    customer = json.dumps(
        {"id": "evt_2", "type": "customer.created", "created": 1, "data": {"object": {}}}
    ).encode()

    assert [parse_webhook_event(body) for body in (pending, action, customer)] == [None] * 3
    with pytest.raises(ValidationError):
        parse_webhook_event(b'{"id": "evt_3"}')
