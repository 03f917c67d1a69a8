"""Sending an actor's action to a ticket's workflow, the one way every sender does it: the API for
one action, and a bulk run (`activities.bulk_actions`) for each of its tickets.

The action is the workflow's Update; its id, which Temporal deduplicates also after the workflow
has ended, is the sender's to derive. How a sender answers a Temporal that fails is its own.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WorkflowUpdateFailedError

from contracts import ActionResult, ActorAction, Refusal, refusal_of
from domain.actions import Action
from domain.tickets import Actor
from persistence.models import Ticket, TimelineEntry


class ActionRefused(Exception):
    """The workflow refused the action: nothing happened."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


async def send_action(
    temporal: Client,
    ticket_no: str,
    update: str,
    request: ActorAction,
    *,
    update_id: str | None,
    rpc_timeout: timedelta,
) -> ActionResult:
    """The ticket's answer once it took the action (`ActionRefused` when it did not); without
    an `update_id` Temporal makes one up, and a second send is a second action.
    An `RPCError` is Temporal's: NOT_FOUND when the workflow has ended (`ended_refusal` says why),
    anything else when the action may or may not have been taken."""
    handle = temporal.get_workflow_handle(ticket_no)
    try:
        return await handle.execute_update(
            update, request, id=update_id, result_type=ActionResult, rpc_timeout=rpc_timeout
        )
    except WorkflowUpdateFailedError as failed:
        raise ActionRefused(refusal_of(failed.cause)) from failed


async def ended_refusal(session: AsyncSession, ticket: Ticket, action: Action) -> str:
    """Why `action` is not possible on a ticket whose workflow has ended: its state, and what the
    engine last did to it when a deadline or the courier ended it."""
    last = await session.scalar(
        select(TimelineEntry)
        .where(TimelineEntry.ticket_no == ticket.ticket_no)
        .order_by(TimelineEntry.seq.desc())
        .limit(1)
    )
    refusal = f"{action} is not possible: the ticket is {ticket.status}"
    if last is not None and last.actor_role == Actor.system and last.reason:
        refusal += f" ({last.reason})"
    return refusal
