"""Starting a ticket's workflow from the API: when the ticket opens, and again when its refund
comes back. The start itself is `activities.ticket_starts`' (the consistency check makes the
same one); here a Temporal that fails becomes the API's answer."""

from __future__ import annotations

import contextlib
from typing import Any

from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from activities.ticket_starts import NEW_TICKET, opening_input, reopened_input, start_ticket
from api import faults
from contracts import TicketInput
from domain.tickets import TicketStatus
from settings import Settings

__all__ = ["ensure_ticket_workflow", "opening_input", "reopened_input", "start_ticket_workflow"]


async def start_ticket_workflow(
    temporal: Client,
    settings: Settings,
    ticket: TicketInput,
    *,
    status: TicketStatus = TicketStatus.submitted,
    **start: Any,
) -> None:
    """`start` adds start options, e.g. a signal delivered with the start. Temporal that does
    not answer is a 503 `temporal_unavailable`: the caller (a provider's webhook) sends again."""
    try:
        await faults.bounded(_start(temporal, settings, ticket, status=status, **start))
    except (RPCError, faults.TemporalSilent) as error:
        raise faults.unavailable(
            faults.TEMPORAL_UNAVAILABLE, f"the ticket could not be started: {error}"
        ) from error


async def ensure_ticket_workflow(temporal: Client, settings: Settings, ticket: TicketInput) -> None:
    """Start a new ticket's workflow unless it already was: the ticket number is the workflow id,
    so starting it again joins the running one, and one that ran and ended is not run twice.
    Faults are the caller's to answer (it has said that the ticket may exist)."""
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await faults.bounded(_start(temporal, settings, ticket, **NEW_TICKET))


async def _start(temporal: Client, settings: Settings, ticket: TicketInput, **start: Any) -> None:
    await start_ticket(
        temporal,
        settings.temporal_task_queue,
        ticket,
        rpc_timeout=faults.TEMPORAL_CALL,
        **start,
    )
