"""A what-if as a workflow: the period's tickets re-decided page by page, with its progress."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts import what_if as w
    from domain.what_if import WhatIfTotals

from workflows.timeouts import DB_RETRY, DB_WRITE, WHAT_IF_PAGE


@workflow.defn
class RuleWhatIfWorkflow:
    def __init__(self) -> None:
        self._progress: w.WhatIfProgress | None = None

    @workflow.run
    async def run(self, request: w.WhatIfRequest) -> w.WhatIfProgress:
        total = await workflow.execute_activity(
            w.COUNT_WHAT_IF,
            request,
            result_type=int,
            start_to_close_timeout=DB_WRITE,
            retry_policy=DB_RETRY,
            summary=f"Count the tickets of {request.merchant_id} in the period",
        )
        progress = self._progress = w.WhatIfProgress(
            run_id=request.run_id, done=0, total=total, finished=False, totals=WhatIfTotals()
        )
        while progress.done < total:
            page = await workflow.execute_activity(
                w.RE_DECIDE_PAGE,
                w.WhatIfPage(request=request, offset=progress.done, totals=progress.totals),
                result_type=w.WhatIfPageDone,
                start_to_close_timeout=WHAT_IF_PAGE,
                retry_policy=DB_RETRY,
                summary=f"Re-decide tickets {progress.done + 1}- of {total}",
            )
            if page.tickets == 0:
                break  # fewer tickets than counted: the count was the upper bound
            progress.done += page.tickets
            progress.totals = progress.totals.merged(page.totals)
        progress.finished = True
        await workflow.execute_activity(
            w.FINISH_WHAT_IF,
            progress,
            start_to_close_timeout=DB_WRITE,
            retry_policy=DB_RETRY,
            summary="Record the what-if's totals",
        )
        return progress

    @workflow.query(name=w.PROGRESS_QUERY)
    def progress(self) -> w.WhatIfProgress | None:
        return self._progress
