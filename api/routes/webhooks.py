"""Signed events from payment providers, forwarded to the ticket they concern."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from pydantic import ValidationError

from adapters.payments.signing import InvalidSignature
from api.deps import SessionDep, SettingsDep, TemporalDep
from api.problems import Problem
from api.services.payment_events import forward_payment_event, webhook_source

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.post("/payments/{provider}")
async def payment_webhook(
    provider: str,
    request: Request,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> dict[str, str]:
    """Verify the signature, apply each event once, and tell the ticket's workflow."""
    source = webhook_source(provider, settings)
    if source is None:
        raise Problem(404, "unknown_provider", f"no payment provider {provider!r} is configured")
    raw = await request.body()
    try:
        event = source.verified_event(
            request.headers.get(source.signature_header), raw, now=int(time.time())
        )
    except InvalidSignature as bad:
        raise Problem(401, "invalid_signature", str(bad)) from bad
    except ValidationError as bad:
        raise Problem(422, "invalid_event", "the body is not a payment event") from bad
    if event is None:
        # Acknowledged, so the provider stops redelivering an event we have no use for.
        return {"status": "ignored"}
    return {"status": await forward_payment_event(session, temporal, settings, provider, event)}
