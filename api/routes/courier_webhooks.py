"""Signed tracking events from couriers, forwarded to the ticket whose parcel they concern."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from pydantic import ValidationError

from adapters.couriers.port import carrier_code
from adapters.couriers.sandbox import parse_webhook
from adapters.couriers.signing import SIGNATURE_HEADER, InvalidSignature, verify
from api.deps import SessionDep, SettingsDep, TemporalDep
from api.problems import Problem
from api.services.tracking_events import forward_tracking_events

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.post("/couriers/{carrier}")
async def courier_webhook(
    carrier: str,
    request: Request,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> dict[str, int]:
    """Verify the signature, store each event once, and tell the ticket's workflow of new ones.

    Body: `{"carrier": "sf", "events": [{event_id, tracking_no, status, description, location,
    occurred_at}]}`, signed `Courier-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t." + body>`."""
    courier = settings.courier_sandbox
    code = carrier_code(carrier)
    if code not in courier.carriers:
        raise Problem(404, "unknown_carrier", f"no courier {carrier!r} is configured")
    raw = await request.body()
    try:
        verify(
            courier.webhook_secret.get_secret_value(),
            request.headers.get(SIGNATURE_HEADER),
            raw,
            now=int(time.time()),
            tolerance_seconds=int(courier.webhook_tolerance.total_seconds()),
        )
        sender, events = parse_webhook(raw)
    except InvalidSignature as bad:
        raise Problem(401, "invalid_signature", str(bad)) from bad
    except ValidationError as bad:
        raise Problem(422, "invalid_event", "the body is not a courier tracking event") from bad
    if carrier_code(sender) != code:
        raise Problem(422, "carrier_mismatch", f"events of {sender!r} posted for {carrier!r}")
    return await forward_tracking_events(session, temporal, code, events)
