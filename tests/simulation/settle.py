"""Waiting until nothing is under way, so that invariants are checked on a world at rest.

At rest: the sandboxes have nothing pending (settlements, reversals, webhooks, planned scans),
no workflow has a task pending or an activity running (but the parcel poll, which runs as long
as a parcel travels, and notifications, which change no state), no ticket is being opened or
refunded, every ticket that ended has its workflow closed (looked at again while a refund of its
order may come back and reopen it), and no open ticket's row is apart from its workflow's `state`
by the consistency check's own comparison. What does not come to rest within `WITHIN` is a
violation.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import PendingActivityState, WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

import contracts as c
from activities.consistency import QUERY_TIMEOUT, compare
from tests.simulation.clock import Clock
from tests.simulation.records import Row, read_rows
from tests.simulation.world import World
from tests.support.sandbox_state import courier_busy, provider_busy

# Activities that run on while a ticket rests: they change no ticket's state.
RESTING = frozenset({c.TRACK_PARCEL, c.DELIVER_NOTIFICATIONS})
PAUSE = 0.05
# Long enough for a refund to settle and a parcel poll to notice its parcel's end (6 s rounds).
WITHIN = 30.0
WORKFLOW_EXECUTION_STATUS_RUNNING = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING


class Unsettled(AssertionError):
    """Something kept going (or kept failing) past the timeout."""


class Settler:
    def __init__(self, world: World, clock: Clock) -> None:
        self._world = world
        self._clock = clock
        # Found on the way, for the driver to report: what closed workflows left running.
        self.findings: list[str] = []
        # Tickets whose workflow was seen closed, at the row version it was seen.
        self._closed: dict[str, int] = {}
        # The server's time when the world was last found at rest, just before its rows were read.
        self.rested_at = datetime.min.replace(tzinfo=UTC)

    async def settle(self, *, idle: bool = False) -> dict[str, Row]:
        """The rows once at rest; `idle`: no activity at all may run (the clock is to jump)."""
        loop = asyncio.get_running_loop()
        until = loop.time() + WITHIN
        quiet_rounds = 0
        while True:
            moment = await self._clock.now()
            rows, busy = await self._busy(idle)
            quiet_rounds = quiet_rounds + 1 if not busy else 0
            if quiet_rounds == 2:
                self.rested_at = moment
                return rows
            if loop.time() > until:
                raise Unsettled(f"not at rest after {WITHIN:.0f} s: " + "; ".join(busy[:12]))
            await asyncio.sleep(PAUSE)

    async def _busy(self, idle: bool) -> tuple[dict[str, Row], list[str]]:
        data_dir = self._world.stack.settings.data_dir
        # The sandboxes first: whatever they delivered is in Temporal by the time it is asked.
        busy = provider_busy(data_dir) + courier_busy(data_dir)
        rows = await read_rows(self._world.stack.sessions, list(self._world.tickets))
        for no, row in rows.items():
            if row.status in ("submitted", "refunding"):
                busy.append(f"{no} {row.status}")
            if row.open:
                self._closed.pop(no, None)
        tickets = self._world.tickets
        asked = [
            no
            for no, row in rows.items()
            if row.open or self._closed.get(no) != row.version or tickets[no].order.may_reverse
        ]
        for found in await asyncio.gather(
            *(self._workflow_busy(no, rows[no], idle) for no in asked)
        ):
            busy += found
        if not busy:
            opened = [row for row in rows.values() if row.open]
            for found in await asyncio.gather(*(self._apart(row) for row in opened)):
                busy += found
        return rows, busy

    async def _apart(self, row: Row) -> list[str]:
        """The consistency check's comparison of the row (read first) with the workflow."""
        handle = self._world.stack.temporal.client.get_workflow_handle(row.ticket_no)
        try:
            state = c.TicketSnapshot.model_validate(
                await handle.query(c.STATE_QUERY, rpc_timeout=QUERY_TIMEOUT)
            )
        except (WorkflowQueryFailedError, RPCError) as error:
            return [f"{row.ticket_no} {row.status}: the workflow does not answer: {error}"]
        kinds = compare(row.snapshot(), state)
        return (
            [
                f"{row.ticket_no} {', '.join(kinds)}: row {row.snapshot().brief()}, workflow "
                f"{state.brief()}"
            ]
            if kinds
            else []
        )

    async def _workflow_busy(self, ticket_no: str, row: Row, idle: bool) -> list[str]:
        client = self._world.stack.temporal.client
        request = DescribeWorkflowExecutionRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=ticket_no)
        )
        try:
            # The raw answer: the SDK's `describe()` cannot decode the time-skipping server's
            # Datetime search attributes.
            raw = await client.workflow_service.describe_workflow_execution(request)
        except RPCError as error:
            return [f"{ticket_no} not described: {error.message}"]
        running = raw.workflow_execution_info.status == WORKFLOW_EXECUTION_STATUS_RUNNING
        if not running:
            if row.open:
                return [f"{ticket_no} is {row.status} but its workflow has closed"]
            # The server still lists what a closed run left running (see clock.py).
            self._closed[ticket_no] = row.version
            run_id = raw.workflow_execution_info.execution.run_id
            self.findings += await self._clock.closed_run(ticket_no, run_id)
            return []
        busy = [f"{ticket_no} is {row.status} but its workflow still runs"] if not row.open else []
        if raw.HasField("pending_workflow_task"):
            busy.append(f"{ticket_no} workflow task pending")
        for step in raw.pending_activities:
            name = step.activity_type.name
            if idle or name not in RESTING:
                failure = step.last_failure.message
                busy.append(
                    f"{ticket_no} {row.status}: {name} attempt {step.attempt}, "
                    f"{PendingActivityState.Name(step.state)}"
                    + (f", last failure: {failure}" if failure else "")
                )
        return busy
