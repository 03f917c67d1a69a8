"""A bulk run as a workflow: the tickets' positions cut into batches, a few batches at a time,
so that one merchant's thousand tickets take a bounded share of the engine."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.bulk import APPLY_BULK_BATCH, FINISH_BULK, BulkBatch, BulkCounts, BulkRun

from workflows.timeouts import BULK_BATCH, BULK_SILENCE, DB_RETRY, DB_WRITE


@workflow.defn
class BulkActionWorkflow:
    @workflow.run
    async def run(self, run: BulkRun) -> BulkCounts:
        offsets = list(range(0, run.total, run.batch_size))
        offsets.reverse()  # taken from the end: the first batch first
        counts = BulkCounts()
        pace = timedelta(seconds=run.batch_size * max(1, run.in_flight) / run.rate)

        async def take_batches() -> None:
            while offsets:
                offset = offsets.pop()
                done = await workflow.execute_activity(
                    APPLY_BULK_BATCH,
                    BulkBatch(run=run, offset=offset, size=run.batch_size),
                    result_type=BulkCounts,
                    # Time for the batch's Updates, plus the waits of the run's pace.
                    start_to_close_timeout=BULK_BATCH + pace,
                    heartbeat_timeout=BULK_SILENCE,
                    retry_policy=DB_RETRY,
                    summary=f"{run.action} tickets {offset + 1}-"
                    f"{min(offset + run.batch_size, run.total)} of {run.total}",
                )
                counts.add(done)

        await asyncio.gather(*(take_batches() for _ in range(max(1, run.in_flight))))
        await workflow.execute_activity(
            FINISH_BULK,
            run.run_id,
            start_to_close_timeout=DB_WRITE,
            retry_policy=DB_RETRY,
            summary="Record that the run is over",
        )
        return counts
