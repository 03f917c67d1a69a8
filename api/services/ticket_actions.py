"""Actor actions reach the ticket's workflow as Updates: accepted or refused at once."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.ticket_updates import ActionRefused, ended_refusal, send_action
from api import faults, idempotency
from api.auth import Principal
from api.problems import Problem
from api.visibility import TicketPart, sees
from contracts import ActorAction, Refusal
from domain.actions import Action
from domain.risk_words import without_risk
from persistence.models import Ticket


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
    try:
        await faults.bounded(
            send_action(
                temporal,
                ticket.ticket_no,
                update,
                request,
                update_id=idempotency.update_id(principal, idempotency_key, digest),
                rpc_timeout=faults.TEMPORAL_CALL,
            )
        )
    except ActionRefused as refused:
        raise refusal_problem(refused.refusal, principal, ticket) from refused
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            # The workflow has ended: say what ended it.
            raise Problem(
                409, "illegal_transition", await ended_refusal(session, ticket, action)
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


def refusal_problem(refusal: Refusal, principal: Principal, ticket: Ticket) -> Problem:
    """A refusal repeats what the deadline does, which may name the buyer's risk."""
    detail = refusal.message
    if not sees(principal.role, TicketPart.risk):
        detail = without_risk(detail, ticket.risk_reasons)
    return Problem(refusal.status, refusal.code, detail)
