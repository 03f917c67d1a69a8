"""A bulk run: stored with a pending row per ticket, then started as a Temporal workflow that
applies the action ticket by ticket (workflows/bulk_actions.py); read back while it goes.

The caller's bulk id names the run: sent again with the same body it finds the same run, starts
its workflow if an earlier attempt could not, and changes nothing else; with another body it is
refused. One merchant's run is its own fairness key on the task queue, at a lower priority than
the tickets' own work, so that it cannot crowd out another merchant's actions.
"""

from __future__ import annotations

import contextlib
import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.common import Priority, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from api import faults, idempotency
from api.auth import Principal, Role
from api.problems import Problem
from api.schemas.bulk import BulkApproveBody, BulkBody, BulkTicketView, BulkView
from api.services.action_requests import check_warehouse
from api.visibility import TicketPart, sees
from contracts.bulk import BulkAction, BulkOutcome, BulkRun
from domain.tickets import Actor
from persistence import bulk as stored
from persistence.models import BulkRun as BulkRunRow
from persistence.models import Warehouse
from settings import Settings
from workflows.bulk_actions import BulkActionWorkflow

# Below the default (3) of the tickets' own tasks: under a backlog, a run's batches wait.
BULK_PRIORITY = 4
PAGE = 100


def _run_id(owner: str, bulk_id: str) -> str:
    return f"bulk:{owner}:{bulk_id}"


async def _merchant_of(session: AsyncSession, principal: Principal) -> str:
    """The merchant whose tickets the run touches: the caller's shop, or its warehouse's."""
    if principal.role == Role.warehouse:
        warehouse = await session.get(Warehouse, principal.subject_id)
        if warehouse is None:
            raise Problem(403, "forbidden_role", "this warehouse key names no warehouse")
        return warehouse.merchant_id
    return principal.subject_id or ""


def _fields(body: BulkBody) -> dict[str, object]:
    """The action's own fields, the same for every ticket."""
    return body.model_dump(mode="json", exclude={"bulk_id", "ticket_nos"})


async def start_bulk(
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    principal: Principal,
    action: BulkAction,
    body: BulkBody,
) -> tuple[str, bool]:
    """The run's bulk id, and whether it was there already (sent again)."""
    bulk_id = body.bulk_id or uuid.uuid4().hex
    digest = idempotency.request_hash(
        f"POST /v1/tickets/bulk/{action}", body.model_dump(mode="json", exclude={"bulk_id"})
    )
    run = await stored.find_run(session, principal.name, bulk_id)
    if run is None:
        if isinstance(body, BulkApproveBody):
            await check_warehouse(session, body.warehouse_id, principal.subject_id)
        await faults.temporal_reachable(temporal)
        run = BulkRunRow(
            run_id=_run_id(principal.name, bulk_id),
            owner=principal.name,
            bulk_id=bulk_id,
            merchant_id=await _merchant_of(session, principal),
            action=action,
            fields=_fields(body),
            request_hash=digest,
            total=len(body.ticket_nos),
            status="running",
        )
        try:
            await stored.add_run(session, run, body.ticket_nos)
            await session.commit()
            replayed = False
        except IntegrityError:
            # The same bulk id, sent at the same moment, stored it first.
            await session.rollback()
            run = await stored.find_run(session, principal.name, bulk_id)
            assert run is not None
            replayed = True
    else:
        replayed = True
    if run.request_hash != digest or run.action != action:
        raise Problem(
            409,
            "bulk_id_reused",
            f"bulk id {bulk_id} was sent before with another request; choose another id",
            field="bulk_id",
        )
    if run.status == "running":
        await _start(temporal, settings, principal, run)
    return bulk_id, replayed


async def _start(
    temporal: Client, settings: Settings, principal: Principal, run: BulkRunRow
) -> None:
    """The run's workflow, started once: joined while it runs, never run again once ended."""
    total = run.total
    action = BulkAction(run.action)
    request = BulkRun(
        run_id=run.run_id,
        action=action,
        actor=Actor(principal.role),
        actor_id=principal.subject_id,
        merchant_id=run.merchant_id if principal.role == Role.merchant else None,
        warehouse_id=principal.subject_id if principal.role == Role.warehouse else None,
        fields=run.fields,
        sees_risk=sees(principal.role, TicketPart.risk),
        total=total,
        batch_size=settings.bulk.batch_size,
        in_flight=settings.bulk.in_flight,
        rate=settings.bulk.rate,
    )
    faults.may_take_effect("the bulk run's start", run.bulk_id, None)
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await faults.bounded(
            temporal.start_workflow(
                BulkActionWorkflow.run,
                request,
                id=run.run_id,
                task_queue=settings.temporal_task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                priority=Priority(priority_key=BULK_PRIORITY, fairness_key=run.merchant_id),
                static_summary=f"Bulk {action} of {total} tickets by {principal.name}",
                static_details=f"Bulk id **{run.bulk_id}**: {action} on {total} tickets of "
                f"merchant {run.merchant_id}, each as its own Update of the ticket's workflow.",
                rpc_timeout=faults.TEMPORAL_CALL,
            )
        )


async def read_bulk(
    session: AsyncSession,
    principal: Principal,
    bulk_id: str,
    cursor: str | None,
    limit: int = PAGE,
    outcome: BulkOutcome | None = None,
) -> BulkView:
    """The run's counts and a page of its tickets; another caller's run is not found."""
    run = await stored.find_run(session, principal.name, bulk_id)
    if run is None:
        raise Problem(404, "bulk_not_found", f"no bulk run {bulk_id} of yours")
    after = -1
    if cursor is not None:
        if not cursor.isdigit() or len(cursor) > 9:
            raise Problem(422, "cursor_invalid", "not a cursor of this list", field="cursor")
        after = int(cursor)
    counts = await stored.counts(session, run.run_id)
    rows = await stored.results_page(session, run.run_id, after, limit + 1, outcome)
    more = len(rows) > limit
    rows = rows[:limit]
    return BulkView(
        bulk_id=run.bulk_id,
        action=BulkAction(run.action),
        status=run.status,
        total=run.total,
        done=counts.done,
        failed=counts.failed,
        pending=run.total - counts.done - counts.failed,
        created_at=run.created_at,
        finished_at=run.finished_at,
        results=[
            BulkTicketView(
                position=row.position,
                ticket_no=row.ticket_no,
                outcome=BulkOutcome(row.outcome),
                status=row.status,
                version=row.version,
                code=row.code,
                message=row.message,
            )
            for row in rows
        ],
        next_cursor=str(rows[-1].position) if more else None,
    )
