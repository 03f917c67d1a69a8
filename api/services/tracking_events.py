"""Verified courier events: store each once, tell the workflow of the parcel's ticket."""

from __future__ import annotations

import logging
from collections import Counter

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.tracking import tracking_signal
from adapters.couriers.port import CourierEvent
from api import faults
from api.problems import Problem
from contracts import TrackingSignal
from persistence.tracking import store_event, ticket_of_parcel
from workflows.ticket import TicketWorkflow

log = logging.getLogger("aftersales.webhooks")


async def forward_tracking_events(
    session: AsyncSession, temporal: Client, carrier: str, events: list[CourierEvent]
) -> dict[str, int]:
    """Counts of events `accepted` (new for a ticket), `duplicate` and `unmatched` (no ticket
    has that parcel; stored all the same, linked if a poll finds it later)."""
    counts: Counter[str] = Counter(accepted=0, duplicate=0, unmatched=0)
    for event in events:
        ticket_no = await ticket_of_parcel(session, carrier, event.tracking_no)
        new = await store_event(
            session,
            carrier=carrier,
            event_id=event.event_id,
            tracking_no=event.tracking_no,
            ticket_no=ticket_no,
            status=event.status,
            description=event.description,
            location=event.location,
            occurred_at=event.occurred_at,
            source="webhook",
        )
        if ticket_no is None:
            log.info("%s event %s of unknown parcel %s", carrier, event.event_id, event.tracking_no)
            counts["unmatched"] += 1
            continue
        if not new:
            counts["duplicate"] += 1
            continue
        await _signal(temporal, ticket_no, tracking_signal(carrier, event))
        counts["accepted"] += 1
    await session.commit()
    return dict(counts)


async def _signal(temporal: Client, ticket_no: str, signal: TrackingSignal) -> None:
    try:
        await faults.signal(temporal, ticket_no, TicketWorkflow.tracking_event, signal)
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            # Nothing committed: the courier's redelivery will try again.
            raise Problem(503, "temporal_unavailable", error.message) from error
        log.warning("ticket %s has no running workflow for %s", ticket_no, signal.event_id)
