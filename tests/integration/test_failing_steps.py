"""The consistency check says why a ticket lags: a step that keeps failing, or a workflow task
that fails again and again, as Temporal reports them."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy import select, text
from temporalio import workflow
from temporalio.client import Client, WorkflowUpdateStage
from temporalio.worker import Worker

from activities.consistency import FAILING_ATTEMPTS, ConsistencyActivities
from contracts import ActionResult, Approve, ConsistencyRequest, DifferenceKind
from domain.tickets import Actor
from persistence.models import Ticket
from tests.support.servers import free_port
from tests.support.stack import Stack
from tests.support.tickets import open_for_review
from worker import worker_runtime


async def test_a_write_blocked_in_the_database_is_reported_as_a_step_retrying(
    stack: Stack,
) -> None:
    opened = await open_for_review(stack)
    handle = stack.temporal.client.get_workflow_handle(opened.ticket_no)
    check = ConsistencyActivities(stack.sessions, stack.temporal.client)
    async with stack.sessions() as blocker:
        # The row locked by another transaction: every write of the approval times out.
        await blocker.execute(
            select(Ticket).where(Ticket.ticket_no == opened.ticket_no).with_for_update()
        )
        update = await handle.start_update(
            "approve",
            Approve(actor=Actor.merchant, actor_id="m-1001"),
            id=f"blocked-{uuid.uuid4().hex[:6]}",
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
            result_type=ActionResult,
        )
        report = None
        async with asyncio.timeout(120):
            while True:
                report = await check.check(ConsistencyRequest(ticket_nos=[opened.ticket_no]))
                kinds = {d.kind for d in report.differences}
                if DifferenceKind.step_retrying in kinds:
                    break
                await asyncio.sleep(2)
        await blocker.rollback()
    [retrying] = [d for d in report.differences if d.kind is DifferenceKind.step_retrying]
    assert retrying.detail.startswith("record_transition attempt ")
    assert int(retrying.detail.split()[2].rstrip(":")) >= FAILING_ATTEMPTS
    assert "timeout" in retrying.detail.lower()
    assert DifferenceKind.row_behind in {d.kind for d in report.differences}

    # Once the lock is gone the write lands and the approval is answered.
    result = await update.result()
    assert result.status == "awaiting_buyer_return"
    # The ticket goes on at once (its return label is asked for, and refused: the order has no
    # address), each step's write a moment behind the workflow: the row catches up with it.
    clean = await check.check(ConsistencyRequest(ticket_nos=[opened.ticket_no]))
    for _ in range(60):
        if not clean.differences:
            break
        await asyncio.sleep(0.5)
        clean = await check.check(ConsistencyRequest(ticket_nos=[opened.ticket_no]))
    assert clean.differences == []


@workflow.defn(name="TicketWorkflow", sandboxed=False)
class _BrokenTicket:
    """A ticket whose code fails in every workflow task (a bug shipped, say)."""

    @workflow.run
    async def run(self, _: object) -> None:
        raise RuntimeError("a bug in the workflow code")


async def test_a_workflow_task_that_keeps_failing_is_reported(stack: Stack) -> None:
    opened = await open_for_review(stack)
    client = stack.temporal.client
    await client.get_workflow_handle(opened.ticket_no).terminate("replaced by a broken run")
    queue = f"broken-{uuid.uuid4().hex[:6]}"
    check = ConsistencyActivities(stack.sessions, client)
    async with Worker(client, task_queue=queue, workflows=[_BrokenTicket]):
        await client.start_workflow("TicketWorkflow", None, id=opened.ticket_no, task_queue=queue)
        async with asyncio.timeout(120):
            while True:
                report = await check.check(ConsistencyRequest(ticket_nos=[opened.ticket_no]))
                kinds = [d.kind for d in report.differences]
                if DifferenceKind.workflow_task_failing in kinds:
                    break
                await asyncio.sleep(2)
    assert kinds == [DifferenceKind.workflow_unanswered, DifferenceKind.workflow_task_failing]
    [failing] = [d for d in report.differences if d.kind is DifferenceKind.workflow_task_failing]
    assert int(failing.detail.rsplit(" ", 1)[1]) >= FAILING_ATTEMPTS
    await client.get_workflow_handle(opened.ticket_no).terminate("test over")
    async with stack.sessions.begin() as session:
        await session.execute(
            text("UPDATE tickets SET status = 'closed' WHERE ticket_no = :no"),
            {"no": opened.ticket_no},
        )


async def test_the_worker_counts_failing_workflow_tasks_on_its_metrics_endpoint(
    stack: Stack,
) -> None:
    address = f"127.0.0.1:{free_port()}"
    runtime = worker_runtime(stack.settings.model_copy(update={"worker_metrics_address": address}))
    assert runtime is not None
    config = stack.temporal.client.config()
    client = await Client.connect(
        config["service_client"].config.target_host,
        namespace=config["namespace"],
        runtime=runtime,
    )
    queue = f"broken-{uuid.uuid4().hex[:6]}"
    async with Worker(client, task_queue=queue, workflows=[_BrokenTicket]):
        handle = await client.start_workflow(
            "TicketWorkflow", None, id=f"broken-{queue}", task_queue=queue
        )
        failed = 0.0
        async with httpx.AsyncClient() as http, asyncio.timeout(60):
            while failed < 1:
                await asyncio.sleep(0.5)
                failed = _counter(
                    (await http.get(f"http://{address}/metrics")).text,
                    "temporal_workflow_task_execution_failed",
                )
        await handle.terminate("test over")
    assert failed >= 1


def _counter(exposition: str, name: str) -> float:
    """The sum of a Prometheus counter's samples, over its labels."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in exposition.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )
