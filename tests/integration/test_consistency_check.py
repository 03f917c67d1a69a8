"""The consistency check of SPEC §11 on the real stack: a ticket's row against its workflow.

A row is corrupted as a lost workflow task of the old code left it (a step the history never
had); the check reports it, repairs it on request, and runs on the worker's Temporal Schedule
and by hand.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta
from pathlib import Path

from temporalio.client import (
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleHandle,
)

from activities.consistency import ConsistencyActivities
from contracts import ConsistencyReport, ConsistencyRequest, DifferenceKind, TicketSnapshot
from domain.tickets import Actor, TicketStatus
from persistence.models import Ticket
from stack.schedules import CONSISTENCY_SCHEDULE_ID, Ensured, ensure_consistency_schedule
from tests.support.stack import Stack
from tests.support.tickets import open_for_review, read
from workflows.consistency import ConsistencyCheckWorkflow
from workflows.ticket import TicketWorkflow

ROOT = Path(__file__).resolve().parents[2]


async def workflow_state(stack: Stack, ticket_no: str) -> TicketSnapshot:
    handle = stack.temporal.client.get_workflow_handle(ticket_no)
    return TicketSnapshot.model_validate(await handle.query(TicketWorkflow.state))


async def row_of(stack: Stack, ticket_no: str) -> tuple[object, ...]:
    async with stack.sessions() as session:
        ticket = await session.get(Ticket, ticket_no)
        assert ticket is not None
        return (
            ticket.status,
            ticket.version,
            ticket.next_actor,
            ticket.deadline_at,
            ticket.on_timeout,
        )


def as_row(state: TicketSnapshot) -> tuple[object, ...]:
    return (state.status, state.version, state.next_actor, state.deadline_at, state.on_timeout)


async def lose_a_step(stack: Stack, ticket_no: str) -> None:
    """Write the row as an approval decided by a workflow task Temporal never committed."""
    async with stack.sessions.begin() as session:
        ticket = await session.get(Ticket, ticket_no)
        assert ticket is not None and ticket.deadline_at is not None
        ticket.status = TicketStatus.awaiting_buyer_return
        ticket.version += 1
        ticket.next_actor = Actor.buyer
        ticket.deadline_at += timedelta(days=7)
        ticket.on_timeout = "cancel the ticket (buyer timeout)"


def only(report: ConsistencyReport, ticket_no: str) -> list[tuple[DifferenceKind, bool]]:
    return [(d.kind, d.repaired) for d in report.differences if d.ticket_no == ticket_no]


async def test_a_row_ahead_of_its_workflow_is_reported_then_repaired_to_the_workflows_state(
    stack: Stack,
) -> None:
    opened = await open_for_review(stack)
    other = await open_for_review(stack)
    check = ConsistencyActivities(stack.sessions, stack.temporal.client)
    state = await workflow_state(stack, opened.ticket_no)
    assert state.status is TicketStatus.awaiting_merchant_review

    # Every open ticket, one per batch: both tickets are reached and neither differs.
    beats: list[int] = []
    clean = await check.check(ConsistencyRequest(batch_size=1), progress=beats.append)
    assert clean.tickets_checked >= 2 and beats[-1] == clean.tickets_checked
    assert only(clean, opened.ticket_no) == [] and only(clean, other.ticket_no) == []

    await lose_a_step(stack, opened.ticket_no)
    corrupt = await row_of(stack, opened.ticket_no)
    reported = await check.check(ConsistencyRequest(batch_size=1))
    assert only(reported, opened.ticket_no) == [(DifferenceKind.row_ahead, False)]
    assert only(reported, other.ticket_no) == []
    [found] = [d for d in reported.differences if d.ticket_no == opened.ticket_no]
    assert found.row.status is TicketStatus.awaiting_buyer_return
    assert found.row.version == state.version + 1
    assert found.workflow == state
    assert await row_of(stack, opened.ticket_no) == corrupt

    repaired = await check.check(ConsistencyRequest(repair=True, ticket_nos=[opened.ticket_no]))
    assert repaired.tickets_checked == 1
    assert only(repaired, opened.ticket_no) == [(DifferenceKind.row_ahead, True)]
    assert await row_of(stack, opened.ticket_no) == as_row(state)
    assert (await read(stack, opened.buyer, opened.ticket_no)).json()["status"] == state.status

    again = await check.check(ConsistencyRequest(repair=True, ticket_nos=[opened.ticket_no]))
    assert again.tickets_checked == 1 and again.differences == []


async def test_a_row_whose_workflow_has_ended_is_reported_as_missing(stack: Stack) -> None:
    opened = await open_for_review(stack)
    await stack.temporal.client.get_workflow_handle(opened.ticket_no).terminate("test")
    check = ConsistencyActivities(stack.sessions, stack.temporal.client)

    report = await check.check(ConsistencyRequest(repair=True, ticket_nos=[opened.ticket_no]))

    assert only(report, opened.ticket_no) == [(DifferenceKind.workflow_missing, False)]
    assert "TERMINATED" in report.differences[0].detail
    # Nothing to repair from: the row stays as it was.
    assert (await row_of(stack, opened.ticket_no))[0] == TicketStatus.awaiting_merchant_review
    # Closed by hand afterwards, it is no longer an open ticket to check.
    async with stack.sessions.begin() as session:
        ticket = await session.get(Ticket, opened.ticket_no)
        assert ticket is not None
        ticket.status = TicketStatus.closed
    closed = await check.check(ConsistencyRequest(ticket_nos=[opened.ticket_no]))
    assert closed.tickets_checked == 0 and closed.differences == []


async def test_the_worker_start_up_keeps_one_schedule_whose_run_repairs_and_reports(
    stack: Stack,
) -> None:
    client = stack.temporal.client
    schedule = client.get_schedule_handle(CONSISTENCY_SCHEDULE_ID)
    try:
        first = await ensure_consistency_schedule(client, stack.settings)
        second = await ensure_consistency_schedule(client, stack.settings)
        faster = stack.settings.model_copy(update={"consistency_check_every": timedelta(hours=1)})
        third = await ensure_consistency_schedule(client, faster)
        assert (first, second, third) == (Ensured.created, Ensured.unchanged, Ensured.updated)

        described = await schedule.describe()
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == "ConsistencyCheckWorkflow"
        assert action.task_queue == stack.settings.temporal_task_queue
        assert [every.every for every in described.schedule.spec.intervals] == [timedelta(hours=1)]

        opened = await open_for_review(stack)
        state = await workflow_state(stack, opened.ticket_no)
        await lose_a_step(stack, opened.ticket_no)
        await schedule.trigger()
        run_id = await _first_run(schedule)
        report = await client.get_workflow_handle_for(ConsistencyCheckWorkflow.run, run_id).result(
            rpc_timeout=timedelta(seconds=60)
        )
    finally:
        await schedule.delete()

    assert report.tickets_checked >= 1
    assert only(report, opened.ticket_no) == [(DifferenceKind.row_ahead, True)]
    assert await row_of(stack, opened.ticket_no) == as_row(state)


async def _first_run(schedule: ScheduleHandle) -> str:
    """The workflow id of the schedule's first action, once it has started."""
    async with asyncio.timeout(30):
        while True:
            info = (await schedule.describe()).info
            for result in info.recent_actions:
                if isinstance(result.action, ScheduleActionExecutionStartWorkflow):
                    return result.action.workflow_id
            await asyncio.sleep(0.2)


async def _command(stack: Stack, *args: str) -> tuple[int, str]:
    client = stack.temporal.client
    assert stack.settings.database_url is not None
    env = os.environ | {
        "DATABASE_URL": stack.settings.database_url,
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": client.namespace,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stack.consistency",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(60):
        output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_the_command_exits_1_while_a_difference_remains_unrepaired(stack: Stack) -> None:
    opened = await open_for_review(stack)
    code, output = await _command(stack, opened.ticket_no)
    assert (code, output.splitlines()[0]) == (0, _summary(0, 0)), output

    await lose_a_step(stack, opened.ticket_no)
    code, output = await _command(stack, opened.ticket_no)
    assert (code, output.splitlines()[0]) == (1, _summary(1, 1)), output
    assert f"{opened.ticket_no}  row_ahead" in output and "NOT repaired" in output

    code, output = await _command(stack, "--repair", opened.ticket_no)
    assert (code, output.splitlines()[0]) == (0, _summary(1, 0)), output
    assert "set to the workflow's awaiting_merchant_review" in output

    code, output = await _command(stack, opened.ticket_no)
    assert (code, output.splitlines()[0]) == (0, _summary(0, 0)), output


def _summary(differences: int, unrepaired: int) -> str:
    return f"checked 1 open ticket(s): {differences} difference(s), {unrepaired} unrepaired"
