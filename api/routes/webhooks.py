"""Signed events from payment providers, forwarded to the ticket they concern."""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, Request
from pydantic import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert
from temporalio.service import RPCError, RPCStatusCode

from activities.contracts import PaymentSignal
from adapters.payments.sandbox import PROVIDER_NAME, parse_webhook_event
from adapters.payments.signing import SIGNATURE_HEADER, InvalidSignature, verify
from api.deps import SessionDep, SettingsDep, TemporalDep
from api.problems import Problem
from persistence.models import PaymentEventSeen, Refund
from workflows.ticket import TicketWorkflow

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
log = logging.getLogger("aftersales.webhooks")


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

    refund = (
        await session.execute(
            select(Refund).where(
                or_(
                    Refund.provider_refund_id == event.refund.provider_refund_id,
                    Refund.idempotency_key == event.refund.idempotency_key,
                )
            )
        )
    ).scalar_one_or_none()
    if refund is None:
        # Not one of ours: acknowledge so the provider stops redelivering it.
        log.warning("payment event %s for unknown refund", event.event_id)
        return {"status": "ignored"}
    first_time = await session.scalar(
        insert(PaymentEventSeen)
        .values(provider=provider, event_id=event.event_id, refund_id=refund.refund_id)
        .on_conflict_do_nothing()
        .returning(PaymentEventSeen.event_id)
    )
    if first_time is None:
        return {"status": "duplicate"}
    status = event.type.removeprefix("refund.")
    try:
        await temporal.get_workflow_handle(refund.ticket_no).signal(
            TicketWorkflow.payment_event,
            PaymentSignal(
                event_id=event.event_id,
                idempotency_key=refund.idempotency_key,
                provider_refund_id=event.refund.provider_refund_id,
                status=status,
                failure_reason=event.refund.failure_reason,
            ),
        )
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            # Not recorded as seen: the provider's redelivery will try again.
            raise Problem(503, "temporal_unavailable", error.message) from error
        log.warning("ticket %s has no running workflow for %s", refund.ticket_no, event.event_id)
    await session.commit()
    return {"status": "accepted"}
