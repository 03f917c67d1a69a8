"""The consistency check as the Temporal Schedule starts it: one activity, one report."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    import contracts as c

# The activity heartbeats after every batch of tickets; a worker lost mid-check is noticed soon.
CHECK_CALL = timedelta(minutes=30)
CHECK_HEARTBEAT = timedelta(minutes=2)
# Every run checks everything again: a failed one is not worth retrying past the next run.
CHECK_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_attempts=3)


@workflow.defn
class ConsistencyCheckWorkflow:
    @workflow.run
    async def run(self, request: c.ConsistencyRequest) -> c.ConsistencyReport:
        return await workflow.execute_activity(
            c.CHECK_CONSISTENCY,
            request,
            result_type=c.ConsistencyReport,
            start_to_close_timeout=CHECK_CALL,
            heartbeat_timeout=CHECK_HEARTBEAT,
            retry_policy=CHECK_RETRY,
            summary="Compare open tickets with their workflows"
            + (", repairing" if request.repair else ""),
        )
