"""A verified payment event: find its refund, apply it once, tell the ticket's workflow."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from adapters.payments import sandbox
from adapters.payments import stripe as stripe_payments
from adapters.payments.port import PaymentEvent
from adapters.payments.signing import SIGNATURE_HEADER, verify
from api import faults
from api.problems import Problem
from api.services.ticket_workflows import reopened_input, start_ticket_workflow
from contracts import PaymentSignal
from domain.tickets import RefundStatus, TicketStatus
from persistence.models import PaymentEventSeen, Refund, Ticket
from settings import Settings
from workflows.ticket import TicketWorkflow

log = logging.getLogger("aftersales.webhooks")


@dataclass(frozen=True)
class WebhookSource:
    """How one payment provider signs its webhooks, and how to read its events."""

    signature_header: str
    secret: str
    tolerance: timedelta
    # None for a genuine event that concerns none of our refunds' final states.
    parse: Callable[[bytes], PaymentEvent | None]

    def verified_event(self, signature: str | None, raw: bytes, now: int) -> PaymentEvent | None:
        """Raises signing.InvalidSignature, or ValueError for a body that is not an event."""
        verify(self.secret, signature, raw, now, int(self.tolerance.total_seconds()))
        return self.parse(raw)


def webhook_source(provider: str, settings: Settings) -> WebhookSource | None:
    """None when no provider of that name is configured to send us webhooks."""
    if provider == sandbox.PROVIDER_NAME:
        return WebhookSource(
            SIGNATURE_HEADER,
            settings.payment_sandbox.webhook_secret.get_secret_value(),
            settings.payment_sandbox.webhook_tolerance,
            sandbox.parse_webhook_event,
        )
    # Stripe signs exactly as the sandbox does (`t=...,v1=<HMAC-SHA256 of "t." + body>`).
    if provider == stripe_payments.PROVIDER_NAME and settings.stripe.webhook_secret is not None:
        return WebhookSource(
            stripe_payments.SIGNATURE_HEADER,
            settings.stripe.webhook_secret.get_secret_value(),
            settings.stripe.tolerance,
            stripe_payments.parse_webhook_event,
        )
    return None


async def forward_payment_event(
    session: AsyncSession, temporal: Client, settings: Settings, provider: str, event: PaymentEvent
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
    status = event.refund.status
    # A refund that succeeded and is now reported failed (Stripe says so) came back all the same.
    reversed_ = status is RefundStatus.reversed or (
        status is RefundStatus.failed and refund.status == RefundStatus.succeeded
    )
    signal = PaymentSignal(
        event_id=event.event_id,
        idempotency_key=refund.idempotency_key,
        provider_refund_id=event.refund.provider_refund_id,
        status=RefundStatus.reversed if reversed_ else status,
        failure_reason=event.refund.failure_reason,
    )
    try:
        if reversed_ and refund.status == RefundStatus.succeeded:
            await _reopen(session, temporal, settings, refund, signal)
        else:
            await faults.signal(temporal, refund.ticket_no, TicketWorkflow.payment_event, signal)
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            # Not recorded as seen: the provider's redelivery will try again.
            raise Problem(503, "temporal_unavailable", error.message) from error
        log.warning("ticket %s has no running workflow for %s", refund.ticket_no, event.event_id)
    await session.commit()
    return "accepted"


async def _reopen(
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    refund: Refund,
    signal: PaymentSignal,
) -> None:
    """A refund booked as succeeded came back: the money is owed again. The ticket's workflow
    hears of it, started anew if it had ended. (One not booked yet is still followed by its
    running workflow, which gets the event as a plain signal.)"""
    ticket = await session.get(Ticket, refund.ticket_no)
    assert ticket is not None
    await start_ticket_workflow(
        temporal,
        settings,
        await reopened_input(session, ticket, refund),
        status=TicketStatus(ticket.status),
        start_signal="payment_event",
        start_signal_args=[signal],
    )
