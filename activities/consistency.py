"""The consistency check (SPEC §11): each open ticket's row against its workflow's `state`.

The row is always read before the workflow is asked: a workflow's version only grows, so a row
found ahead of it was written by a step Temporal never committed (a local activity of a lost
workflow task, before `record-after-commit`), never by a step that is merely in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import Client, WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.common import QueryRejectCondition
from temporalio.service import RPCError, RPCStatusCode

import contracts as c
from activities.heartbeats import heartbeating
from domain.tickets import TERMINAL_STATUSES
from persistence.models import Ticket, TimelineEntry

log = logging.getLogger("aftersales.consistency")

K = c.DifferenceKind
# A workflow whose task fails (or that no worker polls) would hold the query until the RPC's own
# deadline; one such ticket must not stall the whole check.
QUERY_TIMEOUT = timedelta(seconds=10)
# Workflows asked at once.
CONCURRENCY = 20
# A workflow task or a step failed this often in a row: it is failing, not merely retried once.
FAILING_ATTEMPTS = 3

_TIMELINE_SEQ = (
    select(func.coalesce(func.max(TimelineEntry.seq), 0))
    .where(TimelineEntry.ticket_no == Ticket.ticket_no)
    .scalar_subquery()
)
_COLUMNS = (
    Ticket.ticket_no,
    Ticket.status,
    Ticket.version,
    _TIMELINE_SEQ.label("seq"),
    Ticket.next_actor,
    Ticket.deadline_at,
    Ticket.on_timeout,
)


def compare(row: c.TicketSnapshot, workflow: c.TicketSnapshot) -> list[c.DifferenceKind]:
    """The differences between a row and its running workflow, by kind."""
    kinds: list[c.DifferenceKind] = []
    if row.version > workflow.version or (
        row.version == workflow.version and _step(row) != _step(workflow)
    ):
        kinds.append(K.row_ahead)
    elif row.version < workflow.version:
        kinds.append(K.row_behind)
    if row.seq > workflow.seq:
        kinds.append(K.timeline_ahead)
    elif row.seq < workflow.seq and K.row_behind not in kinds:
        kinds.append(K.timeline_behind)
    return kinds


def _step(snapshot: c.TicketSnapshot) -> tuple[Any, ...]:
    return (snapshot.status, snapshot.next_actor, snapshot.deadline_at, snapshot.on_timeout)


class ConsistencyActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], temporal: Client) -> None:
        self._sessions = sessions
        self._temporal = temporal

    @activity.defn(name=c.CHECK_CONSISTENCY)
    async def check_consistency(self, request: c.ConsistencyRequest) -> c.ConsistencyReport:
        """Idempotent: a repair is decided again from the row and the workflow each time."""
        # Beats also while one batch waits on slow workflows, so only a lost worker times out.
        async with heartbeating():
            return await self.check(request, progress=activity.heartbeat)

    async def check(
        self, request: c.ConsistencyRequest, progress: Callable[[int], None] | None = None
    ) -> c.ConsistencyReport:
        """Every open ticket, `batch_size` rows at a time; `progress` hears the count so far."""
        report = c.ConsistencyReport()
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(ticket_no: str, row: c.TicketSnapshot) -> list[c.Difference]:
            async with gate:
                return await self._check_ticket(ticket_no, row, request.repair)

        after = ""
        while batch := await self._open_rows(request, after):
            for found in await asyncio.gather(*(one(no, row) for no, row in batch)):
                report.differences += found
            report.tickets_checked += len(batch)
            after = batch[-1][0]
            if progress is not None:
                progress(report.tickets_checked)
        return report

    async def _open_rows(
        self, request: c.ConsistencyRequest, after: str
    ) -> list[tuple[str, c.TicketSnapshot]]:
        query = (
            select(*_COLUMNS)
            .where(Ticket.status.not_in(TERMINAL_STATUSES), Ticket.ticket_no > after)
            .order_by(Ticket.ticket_no)
            .limit(request.batch_size)
        )
        if request.ticket_nos is not None:
            query = query.where(Ticket.ticket_no.in_(request.ticket_nos))
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [(row.ticket_no, _snapshot(row)) for row in rows]

    async def _check_ticket(
        self, ticket_no: str, row: c.TicketSnapshot, repair: bool
    ) -> list[c.Difference]:
        state = await self._workflow_state(ticket_no)
        if not isinstance(state, c.TicketSnapshot):
            kind, detail = state
            if kind is K.workflow_missing and await self._closed_now(ticket_no):
                return []  # it ended, and its row with it, after the row was read
            unanswered = c.Difference(ticket_no=ticket_no, kind=kind, row=row, detail=detail)
            failing = await self._failing(ticket_no, row) if kind is K.workflow_unanswered else []
            return [_logged(unanswered), *failing]
        found = []
        for kind in compare(row, state):
            difference = c.Difference(ticket_no=ticket_no, kind=kind, row=row, workflow=state)
            if kind is K.row_ahead and repair:
                difference.repaired, difference.detail = await self._repair(ticket_no, row)
            found.append(_logged(difference))
        if any(d.kind in (K.row_behind, K.timeline_behind) for d in found):
            found += await self._failing(ticket_no, row)
        return found

    async def _workflow_state(
        self, ticket_no: str
    ) -> c.TicketSnapshot | tuple[c.DifferenceKind, str]:
        handle = self._temporal.get_workflow_handle(ticket_no)
        try:
            state = await handle.query(
                c.STATE_QUERY,
                reject_condition=QueryRejectCondition.NOT_OPEN,
                rpc_timeout=QUERY_TIMEOUT,
            )
        except WorkflowQueryRejectedError as error:
            status = error.status.name if error.status is not None else "unknown"
            return K.workflow_missing, f"the workflow has ended ({status})"
        except WorkflowQueryFailedError as error:
            return K.workflow_unanswered, str(error)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return K.workflow_missing, "no workflow of this id"
            return K.workflow_unanswered, error.message
        return c.TicketSnapshot.model_validate(state)

    async def _failing(self, ticket_no: str, row: c.TicketSnapshot) -> list[c.Difference]:
        """Why a workflow lags or does not answer, when Temporal shows a task or a step failing
        again and again; asked only then, so a healthy ticket costs one query."""
        try:
            described = await self._temporal.get_workflow_handle(ticket_no).describe(
                rpc_timeout=QUERY_TIMEOUT
            )
        except RPCError:
            return []
        raw = described.raw_description
        found = []
        task = raw.pending_workflow_task
        if raw.HasField("pending_workflow_task") and task.attempt >= FAILING_ATTEMPTS:
            found.append((K.workflow_task_failing, f"workflow task attempt {task.attempt}"))
        for step in raw.pending_activities:
            if step.attempt >= FAILING_ATTEMPTS:
                why = step.last_failure.message or "no failure message"
                found.append(
                    (K.step_retrying, f"{step.activity_type.name} attempt {step.attempt}: {why}")
                )
        return [
            _logged(c.Difference(ticket_no=ticket_no, kind=kind, row=row, detail=detail))
            for kind, detail in found
        ]

    async def _closed_now(self, ticket_no: str) -> bool:
        async with self._sessions() as session:
            status = await session.scalar(
                select(Ticket.status).where(Ticket.ticket_no == ticket_no)
            )
        return status is None or status in TERMINAL_STATUSES

    async def _repair(self, ticket_no: str, seen: c.TicketSnapshot) -> tuple[bool, str]:
        """Set the row to the workflow's step, deciding again with the row locked.

        The workflow is asked while the lock is held: a write of its next step waits for the
        lock, and one already under way shows as a timeline behind the workflow's sequence."""
        async with self._sessions.begin() as session:
            row = (
                await session.execute(
                    select(*_COLUMNS).where(Ticket.ticket_no == ticket_no).with_for_update()
                )
            ).one_or_none()
            if row is None or _snapshot(row) != seen:
                return False, "the row changed since it was read; the next run looks again"
            state = await self._workflow_state(ticket_no)
            if not isinstance(state, c.TicketSnapshot) or K.row_ahead not in compare(seen, state):
                return False, "the workflow moved on since it was asked; the next run looks again"
            if seen.seq < state.seq:
                return False, "a write of the workflow's step is in flight; not repaired"
            if state.status in TERMINAL_STATUSES:
                return False, "the workflow is ending; its last write closes the row"
            ticket = await session.get(Ticket, ticket_no)
            assert ticket is not None  # locked above
            ticket.status = state.status
            ticket.version = state.version
            ticket.next_actor = state.next_actor
            ticket.deadline_at = state.deadline_at
            ticket.on_timeout = state.on_timeout
        return True, f"set to the workflow's {state.brief()}"


def _snapshot(row: Any) -> c.TicketSnapshot:
    return c.TicketSnapshot(
        status=row.status,
        version=row.version,
        seq=row.seq,
        next_actor=row.next_actor,
        deadline_at=row.deadline_at,
        on_timeout=row.on_timeout,
    )


def _logged(difference: c.Difference) -> c.Difference:
    workflow = difference.workflow.brief() if difference.workflow else "none"
    log.warning(
        "consistency %s %s: row %s, workflow %s; %s%s",
        difference.kind,
        difference.ticket_no,
        difference.row.brief(),
        workflow,
        "repaired" if difference.repaired else "not repaired",
        f" ({difference.detail})" if difference.detail else "",
    )
    return difference
