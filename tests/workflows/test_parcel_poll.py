"""The courier poll of a return parcel on the time-skipping test server: each poll is one short
attempt and the retries wait between them, so no worker slot is held while the parcel travels;
a ticket that stops waiting for the parcel cancels the poll, and ends only once it has stopped,
so an ended ticket shows no pending activity in the Temporal UI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from google.protobuf.json_format import MessageToDict
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

import contracts as c
from activities.tracking import poll_interval
from domain.tickets import TicketStatus
from tests.support import temporal as servers
from tests.workflows.fakes import (
    COURIER_POLL,
    FakeProvider,
    Handle,
    approve,
    courier,
    events,
    inspect,
    ship_back,
    start,
    until_status,
    worker,
)
from tests.workflows.test_flows import RETURN, delivered
from workflows.ticket import TicketWorkflow

S = TicketStatus


def _poll_events(history: WorkflowHistory) -> list[EventType.ValueType]:
    """The events of the courier poll's activity, from its scheduling on."""
    [scheduled] = [
        event.event_id
        for event in history.events
        if event.activity_task_scheduled_event_attributes.activity_type.name == c.TRACK_PARCEL
    ]
    found = []
    for event in history.events:
        attributes = MessageToDict(event)
        fields = [value for key, value in attributes.items() if key.endswith("Attributes")]
        ids = {str(f.get("scheduledEventId")) for f in fields if isinstance(f, dict)}
        if event.event_id == scheduled or str(scheduled) in ids:
            found.append(event.event_type)
    return found


@pytest.fixture(scope="module")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of this module's own: the polls' retry timers are skipped like any
    other timer only while nothing else holds the clock, and the suite's shared server has
    tickets of earlier tests whose tasks no worker polls any more."""
    async with servers.time_skipping_server() as env:
        yield env


async def _pending_activities(env: WorkflowEnvironment, handle: Handle) -> list[str]:
    """What the server lists as pending (read raw: the test server's search attributes do not
    decode)."""
    described = await env.client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=env.client.namespace, execution=WorkflowExecution(workflow_id=handle.id)
        )
    )
    return [a.activity_type.name for a in described.pending_activities]


async def _shipped_back(env: WorkflowEnvironment, queue: str) -> Handle:
    """A return the merchant approved and the buyer shipped back: its parcel travels."""
    handle = await start(env, queue, **RETURN)
    await until_status(env, handle, S.awaiting_merchant_review)
    await approve(handle)
    await ship_back(handle)
    return handle


async def test_the_poll_finds_the_delivery_when_no_webhook_comes(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(settle_after_polls=1)
    async with worker(time_env, provider) as queue:
        handle = await _shipped_back(time_env, queue)
        await time_env.sleep(timedelta(days=1))
        travelling = len(provider.parcel_queries)
        waiting = await handle.query(TicketWorkflow.state)
        provider.courier_events = [courier("in_transit"), courier("delivered")]
        await until_status(time_env, handle, S.awaiting_inspection)
        await inspect(handle)
        result = await handle.result()
        pending = await _pending_activities(time_env, handle)
        history = await handle.fetch_history()

    assert waiting["status"] == S.return_in_transit
    # A day of polls backing off from the first interval to six times it: one attempt each.
    assert travelling >= timedelta(days=1) / poll_interval(COURIER_POLL, 99)
    assert all(query.ask_once for query in provider.parcel_queries)
    assert result.status is S.completed
    assert "return_delivered" in events(provider)
    assert pending == []
    assert _poll_events(history) == [
        EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED,
        EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
    ]


async def test_a_ticket_that_stops_waiting_for_the_parcel_stops_the_poll_before_it_ends(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(settle_after_polls=1)
    async with worker(time_env, provider) as queue:
        handle = await _shipped_back(time_env, queue)
        await time_env.sleep(timedelta(hours=3))
        await delivered(time_env, handle)
        await inspect(handle)
        result = await handle.result()
        pending = await _pending_activities(time_env, handle)
        history = await handle.fetch_history()

    assert result.status is S.completed
    assert pending == []
    poll = _poll_events(history)
    assert poll[0] == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    assert poll[-2:] == [
        EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED,
        EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
    ]
    closing = [e.event_type for e in history.events][-1]
    assert closing == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
