"""A what-if: started as a Temporal workflow that re-decides the merchant's past tickets, and
read back (progress, totals, a page of tickets) while it runs. Nothing about the tickets changes.

The run is stored first, then its workflow started (the run id is the workflow id): a request
sent again under the same `Idempotency-Key` and body finds the same run and starts its workflow
if it is not running yet (the same key with another body is refused, as everywhere).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from api import faults, idempotency
from api.auth import Principal
from api.problems import Problem
from api.schemas.rules import WhatIfStart, WhatIfView
from api.services.rule_trials import rules_to_try
from contracts.what_if import WhatIfRequest
from domain.rules import Rule, RuleSet
from domain.what_if import Comparison, WhatIfTotals
from persistence.models import WhatIfRun
from persistence.what_if import results_page
from settings import Settings
from workflows.what_if import RuleWhatIfWorkflow

# The longest period one what-if re-decides.
MAX_PERIOD = timedelta(days=366)
PAGE = 50


def _period(body: WhatIfStart, now: datetime) -> tuple[datetime, datetime]:
    end = min(body.period_to or now, now)
    if body.period_from >= end:
        raise Problem(
            422,
            "period_invalid",
            "period_from must be before period_to (and before now)",
            field="period_from",
        )
    if end - body.period_from > MAX_PERIOD:
        raise Problem(
            422, "period_too_long", "a what-if covers at most 366 days", field="period_from"
        )
    return body.period_from, end


async def start_what_if(
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    merchant_id: str,
    body: WhatIfStart,
    principal: Principal,
    idempotency_key: str | None,
) -> str:
    scope = f"POST /v1/merchants/{merchant_id}/rules/what-if"
    digest = idempotency.request_hash(scope, body.model_dump(mode="json"))
    earlier = await idempotency.replayed(session, principal, idempotency_key, scope, digest)
    if earlier is not None and earlier.resource_id:
        stored = await session.get(WhatIfRun, earlier.resource_id)
        assert stored is not None
    else:
        rules = await rules_to_try(session, merchant_id, body.rules)
        start, end = _period(body, datetime.now(UTC))
        await faults.temporal_reachable(temporal)
        stored = WhatIfRun(
            run_id=f"whatif-{uuid.uuid4().hex}",
            merchant_id=merchant_id,
            rules=[rule.model_dump(mode="json", exclude_none=True) for rule in rules.rules],
            period_from=start,
            period_to=end,
            status="running",
            done=0,
            created_by=principal.name,
        )
        session.add(stored)
        idempotency.remember(session, principal, idempotency_key, scope, digest, stored.run_id, 202)
        await idempotency.flush_first(session)
        await session.commit()
    run_id = stored.run_id
    faults.may_take_effect("the what-if's start", idempotency_key, None)
    await temporal.start_workflow(
        RuleWhatIfWorkflow.run,
        WhatIfRequest(
            run_id=run_id,
            merchant_id=merchant_id,
            rules=RuleSet(version="proposed", rules=[Rule.model_validate(r) for r in stored.rules]),
            period_from=stored.period_from,
            period_to=stored.period_to,
        ),
        id=run_id,
        task_queue=settings.temporal_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"What-if of {merchant_id}'s rules",
        static_details=f"{len(stored.rules)} proposed rules over the tickets opened from "
        f"{stored.period_from:%Y-%m-%d %H:%M} to {stored.period_to:%Y-%m-%d %H:%M} UTC.",
        rpc_timeout=faults.TEMPORAL_CALL,
    )
    return run_id


async def read_what_if(
    session: AsyncSession,
    merchant_id: str,
    run_id: str,
    cursor: str | None,
    limit: int = PAGE,
    changed_only: bool = False,
) -> WhatIfView:
    run = await session.get(WhatIfRun, run_id)
    if run is None or run.merchant_id != merchant_id:
        raise Problem(404, "what_if_not_found", f"no what-if {run_id}")
    after = -1
    if cursor is not None:
        if not cursor.isdigit() or len(cursor) > 9:
            raise Problem(422, "cursor_invalid", "not a cursor of this list", field="cursor")
        after = int(cursor)
    rows = await results_page(session, run_id, after, limit + 1, changed_only=changed_only)
    more = len(rows) > limit
    rows = rows[:limit]
    return WhatIfView(
        run_id=run.run_id,
        merchant_id=run.merchant_id,
        status=run.status,
        done=run.done,
        total=run.total,
        period_from=run.period_from,
        period_to=run.period_to,
        rules=[Rule.model_validate(rule) for rule in run.rules],
        totals=WhatIfTotals.model_validate(run.totals) if run.totals else None,
        created_at=run.created_at,
        finished_at=run.finished_at,
        items=[Comparison.model_validate(row.comparison) for row in rows],
        next_cursor=str(rows[-1].position) if more else None,
    )
