"""`python -m tests.workflows.record_histories`: record the histories the replay test checks.

Run it when a flow is added or deliberately changed (behind `workflow.patched`), and commit the
JSON files: they stand for tickets already running in production.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities import contracts as c
from domain.tickets import TicketStatus
from tests.support.temporal import register_search_attributes, test_server_path
from tests.workflows.fakes import FakeProvider, start, until_status, worker
from workflows.ticket import TicketWorkflow

HISTORIES = Path(__file__).with_name("histories")
Scenario = Callable[
    [WorkflowEnvironment, WorkflowHandle[TicketWorkflow, c.TicketResult]], Awaitable[None]
]


async def _webhook(
    env: WorkflowEnvironment, handle: WorkflowHandle[TicketWorkflow, c.TicketResult]
) -> None:
    await asyncio.sleep(1)
    await handle.signal(
        TicketWorkflow.payment_event,
        c.PaymentSignal(
            event_id="evt_1",
            idempotency_key=f"{handle.id}-R1",
            provider_refund_id="re_1",
            status="succeeded",
        ),
    )


async def _second_approval(approve: bool) -> Scenario:
    async def decide(
        env: WorkflowEnvironment, handle: WorkflowHandle[TicketWorkflow, c.TicketResult]
    ) -> None:
        await until_status(env, handle, TicketStatus.awaiting_second_approval)
        await handle.execute_update(
            TicketWorkflow.second_approval, c.SecondApproval(approve=approve, note="recorded")
        )

    return decide


async def _nothing(
    env: WorkflowEnvironment, handle: WorkflowHandle[TicketWorkflow, c.TicketResult]
) -> None:
    return None


async def main() -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=test_server_path(), data_converter=pydantic_data_converter
    )
    await register_search_attributes(env.client)
    scenarios: dict[str, tuple[FakeProvider, Scenario]] = {
        "refund_before_shipment_webhook": (FakeProvider(), _webhook),
        "refund_before_shipment_polled": (FakeProvider(settle_after_polls=2), _nothing),
        "refund_before_shipment_failed": (FakeProvider(refuse=True), _nothing),
        "second_approval_granted": (
            FakeProvider(settle_after_polls=1, needs_second_approval=True),
            await _second_approval(True),
        ),
        "second_approval_declined": (
            FakeProvider(needs_second_approval=True),
            await _second_approval(False),
        ),
    }
    for name, (provider, act) in scenarios.items():
        async with worker(env, provider) as queue:
            handle = await start(env, queue)
            await act(env, handle)
            await handle.result()
            history = await handle.fetch_history()
        (HISTORIES / f"{name}.json").write_text(history.to_json())
        print(f"recorded {name}: {len(history.events)} events")
    await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
