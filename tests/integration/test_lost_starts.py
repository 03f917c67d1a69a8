"""A ticket stored without an Idempotency-Key whose workflow start Temporal never got: nothing
would ever drive it, so the repairing consistency check starts it, the way the API would have,
once the API's own start can no longer be under way; one whose workflow ran and ended is left.

The ticket is created through an API of its own whose Temporal is cut between the row's insert
and the workflow's start (the insert held back by a lock on `ticket_lines` until the cut).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import text
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.consistency import NO_WORKFLOW, START_GRACE, ConsistencyActivities
from activities.ticket_starts import start_ticket, stored_opening_input
from contracts import ConsistencyReport, ConsistencyRequest, DifferenceKind, TicketInput
from contracts import search_attributes as sa
from domain.tickets import TicketStatus
from persistence.models import Ticket
from tests.support.fault_stack import FaultyApi, faulty_api
from tests.support.orders import application, new_order_id, order_body, put_order
from tests.support.stack import Stack
from tests.support.tickets import ASKED, LINES, MERCHANT, act, recently

MISSING = DifferenceKind.workflow_missing
# Sessions waiting for a lock on `ticket_lines` that this session holds.
_WAITING_FOR_LINES = """
SELECT count(*) FROM pg_locks
WHERE NOT granted AND locktype = 'relation' AND relation = 'ticket_lines'::regclass
"""


@pytest.fixture
async def faulty(stack: Stack) -> AsyncIterator[FaultyApi]:
    async with faulty_api(stack) as api:
        yield api


def _check(stack: Stack) -> ConsistencyActivities:
    return ConsistencyActivities(
        stack.sessions, stack.temporal.client, stack.settings.temporal_task_queue
    )


def _found(report: ConsistencyReport, ticket_no: str) -> list[tuple[DifferenceKind, bool, str]]:
    return [(d.kind, d.repaired, d.detail) for d in report.differences if d.ticket_no == ticket_no]


async def _stored_without_a_workflow(stack: Stack, faulty: FaultyApi) -> tuple[str, str]:
    """A ticket created without a key, its row committed and its start lost: (buyer, number)."""
    buyer = await stack.new_buyer()
    order_id = new_order_id("L")
    order = order_body(LINES, buyer=buyer[6:], status="delivered", delivered_at=recently())
    async with stack.client("platform:shop") as platform:
        await put_order(platform, order_id, order)
    url = stack.settings.require_database_url().replace("postgresql+psycopg", "postgresql", 1)
    async with await psycopg.AsyncConnection.connect(url) as holder, faulty.client(buyer) as http:
        # Reads go on; the creation's insert of its lines waits, after it found Temporal there.
        await holder.execute("LOCK TABLE ticket_lines IN SHARE MODE")
        sent = asyncio.create_task(
            http.post("/v1/tickets", json=application(order_id, *ASKED, type="refund_only"))
        )
        async with asyncio.timeout(10):
            while True:
                waiting = await (await holder.execute(_WAITING_FOR_LINES)).fetchone()
                if waiting is not None and waiting[0] > 0:
                    break
                await asyncio.sleep(0.05)
        await faulty.temporal.cut()
        await holder.rollback()
        lost = await sent
    await faulty.temporal.restore()
    assert lost.status_code == 503, lost.text
    body = lost.json()
    assert (body["code"], body["retry_with_same_idempotency_key"]) == ("outcome_unknown", False)
    ticket_no: str = body["ticket_no"]
    assert await _status_of(stack, ticket_no) is None
    return buyer, ticket_no


async def _status_of(stack: Stack, ticket_no: str) -> WorkflowExecutionStatus | None:
    """The workflow's status, None when Temporal has no workflow of this id."""
    try:
        described = await stack.temporal.client.get_workflow_handle(ticket_no).describe()
    except RPCError as error:
        assert error.status == RPCStatusCode.NOT_FOUND, error
        return None
    return described.status


async def _stored_ago(stack: Stack, ticket_no: str, age: timedelta) -> None:
    """The row as if the creation had committed it `age` ago."""
    async with stack.sessions.begin() as session:
        await session.execute(
            text("UPDATE tickets SET created_at = now() - :age WHERE ticket_no = :no"),
            {"age": age, "no": ticket_no},
        )


async def test_a_lost_start_is_made_by_a_repairing_check_once_past_the_grace_and_then_runs(
    stack: Stack, faulty: FaultyApi
) -> None:
    buyer, ticket_no = await _stored_without_a_workflow(stack, faulty)
    check = _check(stack)
    only_this = [ticket_no]

    # Just stored: the creation may still be starting it, so even a repair leaves it.
    young = await check.check(ConsistencyRequest(repair=True, ticket_nos=only_this))
    [(kind, repaired, detail)] = _found(young, ticket_no)
    assert (kind, repaired) == (MISSING, False)
    assert detail.startswith(NO_WORKFLOW) and "may still be starting it" in detail
    assert await _status_of(stack, ticket_no) is None

    await _stored_ago(stack, ticket_no, START_GRACE + timedelta(seconds=5))
    # A check that does not repair only reports.
    reported = await check.check(ConsistencyRequest(ticket_nos=only_this))
    assert _found(reported, ticket_no) == [(MISSING, False, NO_WORKFLOW)]
    assert await _status_of(stack, ticket_no) is None

    repaired_report = await check.check(ConsistencyRequest(repair=True, ticket_nos=only_this))
    [(kind, repaired, detail)] = _found(repaired_report, ticket_no)
    assert (kind, repaired) == (MISSING, True), detail
    assert "started it" in detail
    assert repaired_report.unrepaired == []

    # The workflow the API would have started: same input, attributes, summary and details.
    handle = stack.temporal.client.get_workflow_handle(ticket_no)
    described = await handle.describe()
    assert described.status is WorkflowExecutionStatus.RUNNING
    assert described.task_queue == stack.settings.temporal_task_queue
    attributes = described.typed_search_attributes
    assert attributes.get(sa.TICKET_TYPE) == "refund_only"
    assert attributes.get(sa.ORDER_ID) == (await _row(stack, ticket_no)).order_id
    assert attributes.get(sa.REFUND_AMOUNT) == (await _row(stack, ticket_no)).quoted_amount
    summary = await described.static_summary()
    assert summary is not None and summary.startswith("refund_only · order ")
    details = await described.static_details()
    assert details is not None and f"Ticket **{ticket_no}** opened by buyer" in details
    started_with = await _input_of(stack, ticket_no)
    async with stack.sessions() as session:
        stored = await session.get(Ticket, ticket_no)
        assert stored is not None
        assert started_with == await stored_opening_input(session, stored)

    # It runs as any ticket: to the merchant's review, and an approval is taken.
    await stack.ticket_when(buyer, ticket_no, "awaiting_merchant_review")
    approved = await act(stack, MERCHANT, ticket_no, "approve", {})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] != "awaiting_merchant_review"

    again = await check.check(ConsistencyRequest(repair=True, ticket_nos=only_this))
    assert again.tickets_checked in (0, 1) and _found(again, ticket_no) == []
    assert (await handle.describe()).run_id == described.run_id


async def test_a_ticket_whose_workflow_ended_before_its_first_step_is_not_started_again(
    stack: Stack, faulty: FaultyApi
) -> None:
    _, ticket_no = await _stored_without_a_workflow(stack, faulty)
    async with stack.sessions() as session:
        stored = await session.get(Ticket, ticket_no)
        assert stored is not None
        ticket = await stored_opening_input(session, stored)
    # Its workflow started on a queue no worker polls, then ended: the row never moved on.
    ended = await start_ticket(
        stack.temporal.client, "nobody-polls", ticket, rpc_timeout=timedelta(seconds=10)
    )
    await ended.terminate("ended before its first step")
    await _stored_ago(stack, ticket_no, START_GRACE + timedelta(seconds=5))

    report = await _check(stack).check(ConsistencyRequest(repair=True, ticket_nos=[ticket_no]))

    [(kind, repaired, detail)] = _found(report, ticket_no)
    assert (kind, repaired) == (MISSING, False)
    assert "TERMINATED" in detail
    described = await stack.temporal.client.get_workflow_handle(ticket_no).describe()
    assert (described.status, described.run_id) == (
        WorkflowExecutionStatus.TERMINATED,
        ended.result_run_id,
    )
    row = await _row(stack, ticket_no)
    assert (row.status, row.version) == (TicketStatus.submitted, 0)
    async with stack.sessions.begin() as session:
        await session.execute(
            text("UPDATE tickets SET status = 'closed' WHERE ticket_no = :no"), {"no": ticket_no}
        )


async def test_a_check_given_no_task_queue_starts_nothing(stack: Stack, faulty: FaultyApi) -> None:
    _, ticket_no = await _stored_without_a_workflow(stack, faulty)
    await _stored_ago(stack, ticket_no, START_GRACE + timedelta(seconds=5))
    check = ConsistencyActivities(stack.sessions, stack.temporal.client)

    report = await check.check(ConsistencyRequest(repair=True, ticket_nos=[ticket_no]))

    [(kind, repaired, detail)] = _found(report, ticket_no)
    assert (kind, repaired) == (MISSING, False) and "no task queue" in detail
    assert await _status_of(stack, ticket_no) is None
    # Started now by a check that has one, so no ticket is left without a workflow.
    started = await _check(stack).check(ConsistencyRequest(repair=True, ticket_nos=[ticket_no]))
    assert [(d.kind, d.repaired) for d in started.differences] == [(MISSING, True)]


async def _row(stack: Stack, ticket_no: str) -> Ticket:
    async with stack.sessions() as session:
        ticket = await session.get(Ticket, ticket_no)
        assert ticket is not None
        return ticket


async def _input_of(stack: Stack, ticket_no: str) -> TicketInput:
    """The input the workflow was started with, from its first history event."""
    history = await stack.temporal.client.get_workflow_handle(ticket_no).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    [decoded] = await stack.temporal.client.data_converter.decode(
        started.input.payloads, [TicketInput]
    )
    assert isinstance(decoded, TicketInput)
    return decoded
