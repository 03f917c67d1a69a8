"""When a return's refund is released under a merchant's rule: on approval, on the courier's first
scan (the fast refund, from a webhook or from the courier poll), on delivery; after inspection
otherwise. Its own time-skipping server: these tickets poll the courier."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.tickets import TicketStatus
from tests.support import temporal as servers
from tests.workflows.fakes import (
    AMOUNT,
    FakeProvider,
    approve,
    courier,
    events,
    recorded,
    ship_back,
    start,
    statuses,
    until_status,
    worker,
)
from tests.workflows.ruled import rule, ruled
from workflows.ticket import TicketWorkflow

S = TicketStatus


@pytest.fixture(scope="module")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """The courier polls' retry timers hold the clock of a shared server after their test."""
    async with servers.time_skipping_server() as env:
        yield env


async def test_a_fast_refund_is_paid_on_the_couriers_first_scan(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(settle_after_polls=1)
    fast = rule("fast", "refunds_90d == 0", approve=True, refund_release="on_first_scan")
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **ruled(fast))
        await until_status(time_env, handle, S.awaiting_buyer_return)
        await ship_back(handle)
        await until_status(time_env, handle, S.return_in_transit)
        await handle.signal(TicketWorkflow.tracking_event, courier("picked_up"))
        result = await handle.result()
    assert result.status is S.completed and result.refunded_amount == AMOUNT
    released = recorded(provider, "refund_released_on_first_scan")
    assert released.from_status is S.return_in_transit and released.to_status is S.refunding
    assert "fast refund (rule fast (m-1-rules-v1))" in released.reason
    assert "return_delivered" not in events(provider)


async def test_a_fast_refund_is_paid_when_the_poll_finds_the_first_scan(
    time_env: WorkflowEnvironment,
) -> None:
    """No webhook comes: the courier poll asks until the parcel is scanned."""
    provider = FakeProvider(settle_after_polls=1, courier_events=[courier("in_transit")])
    fast = rule("fast", "true", approve=True, refund_release="on_first_scan")
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **ruled(fast))
        await until_status(time_env, handle, S.awaiting_buyer_return)
        await ship_back(handle)
        result = await handle.result()
    assert result.status is S.completed
    assert "refund_released_on_first_scan" in events(provider)
    assert all("in_transit" in query.until for query in provider.parcel_queries)


async def test_a_first_scan_without_a_fast_refund_waits_for_the_goods(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **ruled(rule("all", "true", approve=True)))
        await until_status(time_env, handle, S.awaiting_buyer_return)
        await ship_back(handle)
        await until_status(time_env, handle, S.return_in_transit)
        await handle.signal(TicketWorkflow.tracking_event, courier("picked_up"))
        await time_env.sleep(timedelta(hours=1))
        state = await handle.query(TicketWorkflow.state)
    assert state["status"] == S.return_in_transit
    assert provider.grants == []


async def test_a_refund_released_on_delivery_skips_the_inspection(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(settle_after_polls=1)
    on_delivery = rule("trusted", "true", approve=True, refund_release="on_delivery")
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **ruled(on_delivery))
        await until_status(time_env, handle, S.awaiting_buyer_return)
        await ship_back(handle)
        await until_status(time_env, handle, S.return_in_transit)
        await handle.signal(TicketWorkflow.tracking_event, courier("picked_up"))
        await handle.signal(TicketWorkflow.tracking_event, courier("delivered"))
        result = await handle.result()
    assert result.status is S.completed
    delivered = recorded(provider, "return_delivered")
    assert delivered.to_status is S.refunding
    assert "refund released on delivery" in delivered.reason
    assert delivered.shipment is not None and delivered.shipment.status == "delivered"
    assert S.awaiting_inspection not in statuses(provider)


async def test_a_refund_released_on_approval_does_not_wait_for_the_goods(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(settle_after_polls=1)
    at_once = rule("loyal", "order_age_days < 30", refund_release="on_approval")
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **ruled(at_once))
        await until_status(time_env, handle, S.awaiting_merchant_review)
        await approve(handle, service_fee=500)
        result = await handle.result()
    assert result.status is S.completed
    approval = recorded(provider, "approved_by_merchant")
    assert approval.to_status is S.refunding
    assert "refund released on approval" in approval.reason
    assert provider.grants[0].service_fee == 500
