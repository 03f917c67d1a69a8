"""Actor actions reach the ticket's workflow as Updates: accepted or refused at once."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api import faults, idempotency
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

    The `Idempotency-Key`, scoped to the caller and to the request it came with, gives the Update
    its id, which Temporal deduplicates, also after the workflow has ended: sent again after an
    answer that was lost, the Update is not taken twice and answers as it did the first time.
    The stored key refuses the same key sent with another body (422), and answers a replay
    without asking Temporal; a first attempt that took effect but could not store the key is
    replayed by Temporal instead.
    """
    scope = f"POST /v1/tickets/{ticket.ticket_no}/{action}"
    digest = idempotency.request_hash(scope, request.model_dump(mode="json"))
    if await idempotency.replayed(session, principal, idempotency_key, scope, digest):
        return False
    # Nothing is written before the Update: the connection goes back to the pool while Temporal
    # and the worker take the action, so callers waiting on their Updates do not starve the
    # others of connections (the key is stored once the answer is known, on a connection of then).
    await session.commit()
    # A Temporal that does not answer refuses the action before it is sent: nothing happened.
    await faults.temporal_reachable(temporal)
    faults.may_take_effect(f"the {action} action", idempotency_key, ticket.ticket_no)
    handle = temporal.get_workflow_handle(ticket.ticket_no)
    try:
        await faults.bounded(
            handle.execute_update(
                update,
                request,
                id=idempotency.update_id(principal, idempotency_key, digest),
                result_type=ActionResult,
                rpc_timeout=faults.TEMPORAL_CALL,
            )
        )
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
        raise  # answered by api/faults.py: the Update may have been taken
    idempotency.remember(session, principal, idempotency_key, scope, digest, ticket.ticket_no, 200)
    try:
        await session.commit()
    except IntegrityError:
        # The same request under the same key, sent at the same moment, stored it first: both
        # were the one Update that Temporal took once.
        await session.rollback()
        return False
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
