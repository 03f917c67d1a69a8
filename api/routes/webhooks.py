"""Signed events from payment providers, forwarded to the ticket they concern."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from pydantic import ValidationError

from adapters.payments.sandbox import PROVIDER_NAME, parse_webhook_event
from adapters.payments.signing import SIGNATURE_HEADER, InvalidSignature, verify
from api.deps import SessionDep, SettingsDep, TemporalDep
from api.problems import Problem
from api.services.payment_events import forward_payment_event

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
    if provider != PROVIDER_NAME:
        raise Problem(404, "unknown_provider", f"no payment provider {provider!r} is configured")
    raw = await request.body()
    sandbox = settings.payment_sandbox
    try:
        verify(
            sandbox.webhook_secret.get_secret_value(),
            request.headers.get(SIGNATURE_HEADER),
            raw,
            now=int(time.time()),
            tolerance_seconds=int(sandbox.webhook_tolerance.total_seconds()),
        )
        event = parse_webhook_event(raw)
    except InvalidSignature as bad:
        raise Problem(401, "invalid_signature", str(bad)) from bad
    except ValidationError as bad:
        raise Problem(422, "invalid_event", "the body is not a payment event") from bad

    return {"status": await forward_payment_event(session, temporal, provider, event)}
