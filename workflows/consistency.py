"""The consistency check as the Temporal Schedule starts it: one activity, one report."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import contracts as c

from workflows.timeouts import CHECK_CALL, CHECK_RETRY, HEARTBEAT


@workflow.defn
class ConsistencyCheckWorkflow:
    @workflow.run
    async def run(self, request: c.ConsistencyRequest) -> c.ConsistencyReport:
        return await workflow.execute_activity(
            c.CHECK_CONSISTENCY,
            request,
            result_type=c.ConsistencyReport,
            start_to_close_timeout=CHECK_CALL,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=CHECK_RETRY,
            summary="Compare open tickets with their workflows"
            + (", repairing" if request.repair else ""),
        )
