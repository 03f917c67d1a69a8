"""Actor actions reach the ticket's workflow as Updates: accepted or refused at once."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api import idempotency
from api.auth import Principal
from api.problems import Problem
from api.risk_words import without_risk
from api.visibility import TicketPart, sees
from contracts import (
    ACTION_IN_PROGRESS,
    ILLEGAL_TRANSITION,
    INVALID_ACTION,
    VERSION_CONFLICT,
    ActionResult,
    ActorAction,
)
from domain.actions import Action
from domain.tickets import Actor
from persistence.models import Ticket, TimelineEntry

_CONFLICTS = {
    ILLEGAL_TRANSITION: "illegal_transition",
    VERSION_CONFLICT: "version_conflict",
    ACTION_IN_PROGRESS: "action_in_progress",
}


async def take_action(
    session: AsyncSession,
    temporal: Client,
    principal: Principal,
    ticket: Ticket,
    *,
    action: Action,
    update: str,
    request: ActorAction,
    idempotency_key: str | None,
) -> bool:
    """Send the action as the workflow's Update named `update`; returns False when it is a
    replay of one already taken under the key.

    The `Idempotency-Key`, scoped to the caller, serves as the Update id, which Temporal
    deduplicates; the stored key also refuses the same key sent with another body (422).
    """
    scope = f"POST /v1/tickets/{ticket.ticket_no}/{action}"
    digest = idempotency.request_hash(scope, request.model_dump(mode="json"))
    if await idempotency.replayed(session, principal, idempotency_key, scope, digest):
        return False
    update_id = f"{principal.name}:{idempotency_key}" if idempotency_key else None
    handle = temporal.get_workflow_handle(ticket.ticket_no)
    try:
        await handle.execute_update(update, request, id=update_id, result_type=ActionResult)
    except WorkflowUpdateFailedError as failed:
        refusal = _refused(failed.cause)
        # A refusal repeats what the deadline does, which may name the buyer's risk.
        if isinstance(refusal, Problem) and not sees(principal.role, TicketPart.risk):
            refusal.detail = without_risk(refusal.detail, ticket.risk_reasons)
        raise refusal from failed
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            # The workflow has ended: say what ended it.
            raise Problem(
                409, "illegal_transition", await _ended(session, ticket, action)
            ) from error
        raise Problem(503, "temporal_unavailable", error.message) from error
    idempotency.remember(session, principal, idempotency_key, scope, digest, ticket.ticket_no, 200)
    await session.commit()
    return True


def _refused(cause: BaseException | None) -> Exception:
    if isinstance(cause, ApplicationError):
        if cause.type in _CONFLICTS:
            return Problem(409, _CONFLICTS[cause.type], cause.message)
        if cause.type == INVALID_ACTION:
            code = str(cause.details[0]) if cause.details else "invalid_action"
            return Problem(422, code, cause.message)
    return Problem(502, "action_failed", f"the ticket could not take the action: {cause}")


async def _ended(session: AsyncSession, ticket: Ticket, action: Action) -> str:
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
