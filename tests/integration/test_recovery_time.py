"""Recovery time (issue 11): how long a step in flight on a worker that dies waits for a fresh one.

The worker runs as an OS process of its own (`tests.support.dying_worker`) that SIGKILLs itself
as the step's activity starts; a fresh `python -m worker` is started at once. Temporal gives the
lost attempt up when its start-to-close timeout (a database write) or heartbeat timeout (a
provider call) passes, and the retry runs on the fresh worker (workflows/timeouts.py). Measured
from the history: the kill to the step's completion, and to the next workflow task completed
after it (the ticket moving on). The figures are printed; the bound asserted is generous, as the
machine may be busy.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.api.history.v1 import HistoryEvent

import contracts as c
from api.app import create_app
from tests.support.dying_worker import DIE_WHEN_STARTING, DYING_AT_START
from tests.support.orders import buyer_id, line, open_ticket, order_body
from tests.support.servers import serving
from tests.support.stack import SANDBOX_KEY, Stack
from tests.support.worker_process import showing, tail, worker_env, worker_process

BOUND = 30.0
# The timeout by which Temporal notices each step's lost attempt.
NOTICED_BY = {
    c.GRANT_REFUND: "TIMEOUT_TYPE_START_TO_CLOSE",
    c.EXECUTE_REFUND: "TIMEOUT_TYPE_HEARTBEAT",
}
E = EventType


@dataclass(frozen=True)
class Recovery:
    retried_after: str
    step_done: datetime
    moved_on: datetime


def _at(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime(tzinfo=UTC)


def _first(
    events: list[HistoryEvent], kind: EventType.ValueType, *, after: int = 0, **where: int
) -> HistoryEvent | None:
    """The first event of `kind` past the event id `after` whose attributes hold `where`."""
    for event in events:
        if event.event_type != kind or event.event_id <= after:
            continue
        attributes = getattr(event, event.WhichOneof("attributes") or "")
        if all(getattr(attributes, name) == value for name, value in where.items()):
            return event
    return None


def _recovery(events: list[HistoryEvent], activity_type: str) -> Recovery | None:
    """The step's completion and the workflow task completed after it, once both are there."""
    scheduled = next(
        (
            event.event_id
            for event in events
            if event.event_type == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and event.activity_task_scheduled_event_attributes.activity_type.name == activity_type
        ),
        None,
    )
    if scheduled is None:
        return None
    started = _first(events, E.EVENT_TYPE_ACTIVITY_TASK_STARTED, scheduled_event_id=scheduled)
    done = _first(events, E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, scheduled_event_id=scheduled)
    if started is None or done is None:
        return None
    moved = _first(events, E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, after=done.event_id)
    if moved is None:
        return None
    failure = started.activity_task_started_event_attributes.last_failure
    timeout = TimeoutType.Name(failure.timeout_failure_info.timeout_type)
    return Recovery(timeout, _at(done), _at(moved))


async def _recovered(stack: Stack, ticket_no: str, activity_type: str) -> Recovery:
    handle = stack.temporal.client.get_workflow_handle(ticket_no)
    async with asyncio.timeout(60):
        while True:
            events = list((await handle.fetch_history()).events)
            recovery = _recovery(events, activity_type)
            if recovery is not None:
                return recovery
            await asyncio.sleep(0.2)


async def _open_refund_only(stack: Stack, api_url: str, label: str) -> str:
    """A refund-only ticket on an unshipped order: granted and paid at once."""
    order = order_body([line("L1", 1, 2_500)], buyer=buyer_id(label))

    def client(principal: str) -> httpx.AsyncClient:
        key = stack.keys[principal]
        return httpx.AsyncClient(
            base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )

    async with client("platform:shop") as platform, client(label) as buyer:
        return await open_ticket(platform, buyer, order, ("L1", 1))


@pytest.mark.parametrize("activity_type", sorted(NOTICED_BY))
async def test_a_step_lost_with_its_worker_is_done_by_a_fresh_worker_within_seconds(
    activity_type: str, stack: Stack, tmp_path: Path
) -> None:
    queue = f"recovery-{uuid.uuid4().hex[:8]}"
    # This test's own API starts tickets on this test's own task queue: only its workers run them.
    api = create_app(
        stack.settings.model_copy(update={"temporal_task_queue": queue}),
        temporal=stack.temporal.client,
    )
    env = worker_env(stack, queue, tmp_path) | {
        "PAYMENT_SANDBOX_URL": stack.sandbox_url,
        "PAYMENT_SANDBOX_API_KEY": SANDBOX_KEY,
    }
    dying_log, fresh_log = tmp_path / "dying-worker.log", tmp_path / "worker.log"
    label = await stack.new_buyer()

    async with serving(api) as api_url:
        async with worker_process(
            env | {DIE_WHEN_STARTING: activity_type}, dying_log, "tests.support.dying_worker"
        ) as dying:
            ticket_no = await _open_refund_only(stack, api_url, label)
            try:
                async with asyncio.timeout(30):
                    killed = await dying.wait()
            except TimeoutError:
                raise AssertionError(f"the worker did not die:\n{tail(dying_log)}") from None
            killed_at = datetime.fromtimestamp(time.time(), UTC)
        async with worker_process(env, fresh_log):
            with showing(fresh_log):
                recovery = await _recovered(stack, ticket_no, activity_type)
                ticket = await stack.ticket_when(label, ticket_no, "completed")

    step = (recovery.step_done - killed_at).total_seconds()
    moved = (recovery.moved_on - killed_at).total_seconds()
    print(
        f"\nrecovery of {activity_type} after SIGKILL: step done by a fresh worker {step:.1f} s "
        f"after the kill, ticket moved on {moved:.1f} s after it "
        f"(lost attempt noticed by {recovery.retried_after})"
    )
    assert killed == -signal.SIGKILL, tail(dying_log)
    assert f"{DYING_AT_START} {activity_type} (attempt 1)" in tail(dying_log)
    # Temporal gave the lost attempt up by the timeout meant to notice it, not a longer one.
    assert recovery.retried_after == NOTICED_BY[activity_type]
    assert 0 < step <= moved < BOUND
    assert ticket["refunded_amount"] == 2_500
