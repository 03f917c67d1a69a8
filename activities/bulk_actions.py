"""A bulk run's batches: each ticket's action sent as its own Update, its outcome stored as it
comes. A ticket that is not the actor's, or that refuses the action, fails alone; one busy with
another step is asked again a few times first.

Retried after a crash, a batch sends again only the tickets without an outcome, each under the
Update id it was first sent with (the run id and the ticket number), which Temporal takes once.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

import contracts as c
from activities.ticket_updates import ActionRefused, ended_refusal, send_action
from contracts.actions import BUSY_CODE
from contracts.bulk import (
    APPLY_BULK_BATCH,
    FINISH_BULK,
    BulkAction,
    BulkBatch,
    BulkCounts,
    BulkOutcome,
    BulkRun,
    BulkTicketResult,
)
from domain.actions import Action
from domain.risk_words import without_risk
from persistence.bulk import finish_run, pending, record_outcome
from persistence.models import Ticket
from persistence.tickets import Scope, find_ticket

# How long one ticket's Update may take to be answered before the attempt is tried again.
UPDATE_CALL = timedelta(seconds=30)
# Well inside the batch's heartbeat timeout (workflows.timeouts.BULK_SILENCE).
HEARTBEAT_EVERY = 10.0
# A ticket busy with another action (or a deadline's or the courier's outcome) when the run
# reaches it is asked again after each of these waits, in seconds: such a step takes well under
# a second. Still busy after the last, it fails in the run with `action_in_progress`.
BUSY_WAITS = (0.5, 1.0, 2.0, 4.0, 8.0)


def update_id(run_id: str, ticket_no: str) -> str:
    """The one Update a run sends a ticket, whichever attempt sends it."""
    return f"{run_id}/{ticket_no}"


def action_request(run: BulkRun, ticket: Ticket) -> c.ActorAction:
    """The action's fields as sent for all, signed by who acts; an inspection pass accepts
    each line of this ticket in full."""
    signed: dict[str, Any] = {**run.fields, "actor": run.actor, "actor_id": run.actor_id}
    match run.action:
        case BulkAction.approve:
            return c.Approve.model_validate(signed)
        case BulkAction.reject:
            return c.Reject.model_validate(signed)
        case BulkAction.inspection_pass:
            lines = [
                c.InspectedLine(line_id=line.line_id, accepted=line.quantity, rejected=0)
                for line in ticket.lines
            ]
            return c.Inspection.model_validate({**signed, "lines": lines})


def _failed(ticket_no: str, code: str, message: str) -> BulkTicketResult:
    return BulkTicketResult(
        ticket_no=ticket_no, outcome=BulkOutcome.failed, code=code, message=message
    )


async def _paced(until: float, position: int) -> None:
    """Waits for the run's pace, telling Temporal the batch is alive meanwhile."""
    while (left := until - time.monotonic()) > 0:
        await asyncio.sleep(min(left, HEARTBEAT_EVERY))
        activity.heartbeat(position)


class BulkActivities:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        temporal: Client,
        busy_waits: tuple[float, ...] = BUSY_WAITS,
    ) -> None:
        self._sessions = sessions
        self._temporal = temporal
        self._busy_waits = busy_waits

    @activity.defn(name=APPLY_BULK_BATCH)
    async def apply_bulk_batch(self, batch: BulkBatch) -> BulkCounts:
        run = batch.run
        async with self._sessions() as session:
            waiting = [
                (row.position, row.ticket_no)
                for row in await pending(session, run.run_id, batch.offset, batch.size)
            ]
        counts = BulkCounts()
        # Each of the run's batches at once takes its share of the run's pace.
        spacing = run.in_flight / run.rate
        for position, ticket_no in waiting:
            started = time.monotonic()
            result = await self._apply(run, ticket_no, position)
            async with self._sessions.begin() as session:
                await record_outcome(session, run.run_id, position, result)
            counts.add(
                BulkCounts(
                    done=result.outcome == BulkOutcome.done,
                    failed=result.outcome == BulkOutcome.failed,
                )
            )
            activity.heartbeat(position)
            await _paced(started + spacing, position)
        return counts

    @activity.defn(name=FINISH_BULK)
    async def finish_bulk(self, run_id: str) -> None:
        async with self._sessions.begin() as session:
            await finish_run(session, run_id)

    async def _apply(self, run: BulkRun, ticket_no: str, position: int) -> BulkTicketResult:
        for wait in self._busy_waits:
            result = await self._apply_once(run, ticket_no)
            if result.code != BUSY_CODE:
                return result
            await _paced(time.monotonic() + wait, position)
        return await self._apply_once(run, ticket_no)

    async def _apply_once(self, run: BulkRun, ticket_no: str) -> BulkTicketResult:
        """The ticket's action sent once: the request is built from the ticket as it is now,
        since a busy ticket may have moved on (an inspection pass names its lines)."""
        scope = Scope(merchant_id=run.merchant_id, warehouse_id=run.warehouse_id)
        async with self._sessions() as session:
            ticket = await find_ticket(session, ticket_no, scope)
            if ticket is None:
                return _failed(ticket_no, "ticket_not_found", f"no ticket {ticket_no}")
            # Read now: the session ends before the Update, which may take a while.
            request = action_request(run, ticket)
            risk = [] if run.sees_risk else list(ticket.risk_reasons)
        try:
            answer = await send_action(
                self._temporal,
                ticket_no,
                run.action.update,
                request,
                update_id=update_id(run.run_id, ticket_no),
                rpc_timeout=UPDATE_CALL,
            )
        except ActionRefused as refused:
            refusal = refused.refusal
            return _failed(ticket_no, refusal.code, without_risk(refusal.message, risk))
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise  # Temporal did not answer: the attempt is retried, the Update sent again
            async with self._sessions() as session:
                ticket = await find_ticket(session, ticket_no, scope)
                assert ticket is not None
                why = await ended_refusal(session, ticket, Action(run.action.update))
            return _failed(ticket_no, "illegal_transition", without_risk(why, risk))
        return BulkTicketResult(
            ticket_no=ticket_no,
            outcome=BulkOutcome.done,
            status=answer.status,
            version=answer.version,
        )
