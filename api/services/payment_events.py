"""A verified payment event: find its refund, apply it once, tell the ticket's workflow."""

from __future__ import annotations

import logging

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.contracts import PaymentSignal
from adapters.payments.port import PaymentEvent
from api.problems import Problem
from persistence.models import PaymentEventSeen, Refund
from workflows.ticket import TicketWorkflow

log = logging.getLogger("aftersales.webhooks")


async def forward_payment_event(
    session: AsyncSession, temporal: Client, provider: str, event: PaymentEvent
) -> str:
    """Returns `accepted`, `duplicate` or `ignored` (not one of our refunds)."""
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
        # Acknowledged all the same, so the provider stops redelivering it.
        log.warning("payment event %s for unknown refund", event.event_id)
        return "ignored"
    first_time = await session.scalar(
        insert(PaymentEventSeen)
        .values(provider=provider, event_id=event.event_id, refund_id=refund.refund_id)
        .on_conflict_do_nothing()
        .returning(PaymentEventSeen.event_id)
    )
    if first_time is None:
        return "duplicate"
    try:
        await temporal.get_workflow_handle(refund.ticket_no).signal(
            TicketWorkflow.payment_event,
            PaymentSignal(
                event_id=event.event_id,
                idempotency_key=refund.idempotency_key,
                provider_refund_id=event.refund.provider_refund_id,
                status=event.type.removeprefix("refund."),
                failure_reason=event.refund.failure_reason,
            ),
        )
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            # Not recorded as seen: the provider's redelivery will try again.
            raise Problem(503, "temporal_unavailable", error.message) from error
        log.warning("ticket %s has no running workflow for %s", refund.ticket_no, event.event_id)
    await session.commit()
    return "accepted"
