"""Histories of the engine's workflows other than the ticket's: a bulk run, a what-if and a
consistency check, each recorded with activities that answer as the real ones do (counts, pages,
a report) without a database. `record_histories` records them with the tickets' flows; the
replay test replays them all, so a change to one of these workflows that would break a run in
production fails there as well."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import contracts as c
from contracts import what_if as w
from contracts.bulk import APPLY_BULK_BATCH, FINISH_BULK, BulkAction, BulkBatch, BulkCounts, BulkRun
from domain.rules import RuleSet
from domain.tickets import Actor
from domain.what_if import WhatIfTotals
from workflows.bulk_actions import BulkActionWorkflow
from workflows.consistency import ConsistencyCheckWorkflow
from workflows.what_if import RuleWhatIfWorkflow

WORKFLOWS = (BulkActionWorkflow, RuleWhatIfWorkflow, ConsistencyCheckWorkflow)
BULK_TICKETS = 25  # three batches of ten, two of them at a time
WHAT_IF_TICKETS = 5  # two pages of three


@activity.defn(name=APPLY_BULK_BATCH)
async def _apply_bulk_batch(batch: BulkBatch) -> BulkCounts:
    size = min(batch.size, batch.run.total - batch.offset)
    # One ticket of the run refused: a refusal fails that ticket alone.
    failed = int(batch.offset <= 3 < batch.offset + size)
    return BulkCounts(done=size - failed, failed=failed)


@activity.defn(name=FINISH_BULK)
async def _finish_bulk(run_id: str) -> None:
    return None


@activity.defn(name=w.COUNT_WHAT_IF)
async def _count_what_if(request: w.WhatIfRequest) -> int:
    return WHAT_IF_TICKETS


@activity.defn(name=w.RE_DECIDE_PAGE)
async def _re_decide_page(page: w.WhatIfPage) -> w.WhatIfPageDone:
    tickets = min(page.request.page_size, WHAT_IF_TICKETS - page.offset)
    return w.WhatIfPageDone(tickets=tickets, totals=WhatIfTotals(changed=1))


@activity.defn(name=w.FINISH_WHAT_IF)
async def _finish_what_if(progress: w.WhatIfProgress) -> None:
    return None


@activity.defn(name=c.CHECK_CONSISTENCY)
async def _check_consistency(request: c.ConsistencyRequest) -> c.ConsistencyReport:
    return c.ConsistencyReport(tickets_checked=12)


ACTIVITIES = (
    _apply_bulk_batch,
    _finish_bulk,
    _count_what_if,
    _re_decide_page,
    _finish_what_if,
    _check_consistency,
)


def _bulk_run() -> BulkRun:
    return BulkRun(
        run_id=f"bulk:merchant:m-1001:recorded-{uuid.uuid4().hex[:8]}",
        action=BulkAction.approve,
        actor=Actor.merchant,
        actor_id="m-1001",
        merchant_id="m-1001",
        fields={"note": "bulk approve"},
        sees_risk=True,
        total=BULK_TICKETS,
    )


def _what_if() -> w.WhatIfRequest:
    return w.WhatIfRequest(
        run_id=f"what-if-{uuid.uuid4().hex[:8]}",
        merchant_id="m-1001",
        rules=RuleSet(version="recorded"),
        period_from=datetime(2026, 11, 1, tzinfo=UTC),
        period_to=datetime(2026, 12, 1, tzinfo=UTC),
        page_size=3,
    )


async def _recorded(env: WorkflowEnvironment, run: Any, argument: Any, workflow_id: str) -> str:
    """Runs one workflow (its run method and argument) on a worker of its own; returns its
    history as JSON."""
    queue = f"recorded-{uuid.uuid4().hex[:8]}"
    async with Worker(env.client, task_queue=queue, workflows=WORKFLOWS, activities=ACTIVITIES):
        handle = await env.client.start_workflow(run, argument, id=workflow_id, task_queue=queue)
        await handle.result()
        history: WorkflowHistory = await handle.fetch_history()
    return history.to_json()


async def bulk_run_finished(env: WorkflowEnvironment) -> str:
    run = _bulk_run()
    return await _recorded(env, BulkActionWorkflow.run, run, run.run_id)


async def what_if_finished(env: WorkflowEnvironment) -> str:
    request = _what_if()
    return await _recorded(env, RuleWhatIfWorkflow.run, request, request.run_id)


async def consistency_check_repaired(env: WorkflowEnvironment) -> str:
    workflow_id = f"ticket-consistency-check-{uuid.uuid4().hex[:8]}"
    return await _recorded(
        env, ConsistencyCheckWorkflow.run, c.ConsistencyRequest(repair=True), workflow_id
    )


# History name: how it is recorded.
RECORDERS: dict[str, Callable[[WorkflowEnvironment], Awaitable[str]]] = {
    "bulk_run_finished": bulk_run_finished,
    "what_if_finished": what_if_finished,
    "consistency_check_repaired": consistency_check_repaired,
}
