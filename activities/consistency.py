"""The consistency check (SPEC §11): each open ticket's row against its workflow's `state`.

The row is always read before the workflow is asked: a workflow's version only grows, so a row
found ahead of it was written by a step Temporal never committed (a local activity of a lost
workflow task, before `record-after-commit`), never by a step that is merely in flight.

A ticket whose row was committed but whose workflow Temporal never heard of lost its start (the
API commits the row, then starts the workflow, and Temporal failed in between): a repairing check
makes that start once the API's own can no longer be under way, if the ticket has had no step.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.common import QueryRejectCondition
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

import contracts as c
from activities.heartbeats import heartbeating
from activities.ticket_starts import NEW_TICKET, start_ticket, stored_opening_input
from domain.tickets import TERMINAL_STATUSES, TicketStatus
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
# A ticket's row this old (by the database's clock, from its transaction's start) whose workflow
# Temporal has never heard of lost its start. The API's creation takes seconds from that start to
# its bounded start of the workflow (statements of at most 10 s, then a 3.5 s start: "about five
# seconds whatever fails"); a minute is far past it, and the Schedule's next run (every 15 min by
# default) starts the workflow well before a ticket's first deadline (hours or days) matters. A
# start made while the API's is still in flight would only join it (`NEW_TICKET`).
START_GRACE = timedelta(seconds=60)
NO_WORKFLOW = "no workflow of this id"

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


class _Unseen(NamedTuple):
    """No `state` from the workflow: why, and whether Temporal has no workflow of this id at all
    (none was started, or one so long closed that its history is gone: a workflow records a step
    as soon as it runs, so `_start_lost` starts only a row that has none)."""

    kind: c.DifferenceKind
    detail: str
    never_started: bool = False


class ConsistencyActivities:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        temporal: Client,
        task_queue: str | None = None,
    ) -> None:
        """`task_queue` is where a repair starts a ticket's lost workflow (the worker's); a check
        given none starts nothing and reports such a ticket."""
        self._sessions = sessions
        self._temporal = temporal
        self._task_queue = task_queue

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
        if isinstance(state, _Unseen):
            kind, detail, never_started = state
            if kind is K.workflow_missing and await self._closed_now(ticket_no):
                return []  # it ended, and its row with it, after the row was read
            unanswered = c.Difference(ticket_no=ticket_no, kind=kind, row=row, detail=detail)
            if never_started and repair:
                unanswered.repaired, unanswered.detail = await self._start_lost(ticket_no, row)
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

    async def _workflow_state(self, ticket_no: str) -> c.TicketSnapshot | _Unseen:
        handle = self._temporal.get_workflow_handle(ticket_no)
        try:
            state = await handle.query(
                c.STATE_QUERY,
                reject_condition=QueryRejectCondition.NOT_OPEN,
                rpc_timeout=QUERY_TIMEOUT,
            )
        except WorkflowQueryRejectedError as error:
            status = error.status.name if error.status is not None else "unknown"
            return _Unseen(K.workflow_missing, f"the workflow has ended ({status})")
        except WorkflowQueryFailedError as error:
            return _Unseen(K.workflow_unanswered, str(error))
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return _Unseen(K.workflow_missing, NO_WORKFLOW, never_started=True)
            return _Unseen(K.workflow_unanswered, error.message)
        return c.TicketSnapshot.model_validate(state)

    async def _failing(self, ticket_no: str, row: c.TicketSnapshot) -> list[c.Difference]:
        """Why a workflow lags or does not answer, when Temporal shows a task or a step failing
        again and again; asked only then, so a healthy ticket costs one query.

        The raw description is all it reads: the client's `describe()` also decodes the search
        attributes, which fails (TypeError) on a server that lists `DeadlineAt` unset as a null
        value (the time-skipping test server does), and would take the whole check down."""
        try:
            raw = await self._temporal.workflow_service.describe_workflow_execution(
                DescribeWorkflowExecutionRequest(
                    namespace=self._temporal.namespace,
                    execution=WorkflowExecution(workflow_id=ticket_no),
                ),
                retry=True,
                timeout=QUERY_TIMEOUT,
            )
        except RPCError as error:
            log.warning("consistency %s: not described: %s", ticket_no, error.message)
            return []
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

    async def _start_lost(self, ticket_no: str, seen: c.TicketSnapshot) -> tuple[bool, str]:
        """Start the workflow of a ticket whose row was stored but whose start never reached
        Temporal: the API's own start, from the row, as a retry of the creation makes it.

        Only a ticket that has had no step: its workflow is the only writer of any later one,
        so a row that moved on had a workflow, and what ended it is not undone here."""
        if self._task_queue is None:
            return False, f"{NO_WORKFLOW}; this check starts no workflow (no task queue given)"
        if not _unstarted(seen):
            return False, f"{NO_WORKFLOW}; the row has had steps, so it is not started from it"
        async with self._sessions() as session:
            found = (
                await session.execute(
                    select(*_COLUMNS, func.now() - Ticket.created_at).where(
                        Ticket.ticket_no == ticket_no
                    )
                )
            ).one_or_none()
            if found is None or not _unstarted(_snapshot(found)):
                return False, "the row changed since it was read; the next run looks again"
            age: timedelta = found[-1]
            if age < START_GRACE:
                return False, (
                    f"{NO_WORKFLOW}; stored {age.total_seconds():.0f} s ago, its creation may "
                    f"still be starting it (started after {START_GRACE.total_seconds():g} s)"
                )
            stored = await session.get(Ticket, ticket_no)
            assert stored is not None  # read just above; a ticket's row is never deleted
            ticket = await stored_opening_input(session, stored)
        try:
            await start_ticket(
                self._temporal, self._task_queue, ticket, rpc_timeout=QUERY_TIMEOUT, **NEW_TICKET
            )
        except WorkflowAlreadyStartedError:
            return False, "a workflow of this id ran and ended meanwhile; not started again"
        except RPCError as error:
            return False, f"{NO_WORKFLOW}; its start failed ({error.message}), the next run tries"
        return True, f"{NO_WORKFLOW}: its start was lost after the row was stored; started it"

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
            if isinstance(state, _Unseen) or K.row_ahead not in compare(seen, state):
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


def _unstarted(row: c.TicketSnapshot) -> bool:
    """The row as the API's creation stores it: no step recorded yet."""
    return row.status is TicketStatus.submitted and row.version == 0 and row.seq == 0


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
