"""Return labels: on approval the ticket asks the courier for a prepaid label, and follows the
label's parcel from the courier's first scan, with no tracking number typed. Its own
time-skipping server: these tickets poll the courier."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

import contracts as c
from domain.tickets import Actor, TicketStatus, TicketType
from tests.support import temporal as servers
from tests.workflows.fakes import (
    AMOUNT,
    LABEL_TRACKING,
    RETURN_TRACKING,
    FakeProvider,
    Handle,
    approve,
    courier,
    events,
    inspect,
    recorded,
    ship_back,
    start,
    ticket_input,
    until_recorded,
    until_status,
    worker,
)
from workflows.ticket import TicketWorkflow

S = TicketStatus
LABELLED = ticket_input("policy").policy.model_copy(update={"return_labels": True})
RETURN: dict[str, Any] = {
    "type": TicketType.return_refund,
    "order_shipped": True,
    "order_delivered": True,
    "policy": LABELLED,
}


async def approved(env: WorkflowEnvironment, queue: str, **overrides: Any) -> Handle:
    """A return the merchant approved, once its label request has been answered."""
    handle = await start(env, queue, **{**RETURN, **overrides})
    await until_status(env, handle, S.awaiting_merchant_review)
    await approve(handle)
    await until_status(env, handle, S.awaiting_buyer_return)
    return handle


@pytest.fixture
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """A server per test: the retry timers of courier polls and label requests stopped by a
    ticket that then ended can hold a shared test server's clock (it stops skipping)."""
    async with servers.time_skipping_server() as env:
        yield env


async def test_a_labelled_return_ships_on_the_couriers_first_scan_without_a_tracking_number(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(settle_after_polls=1)
    async with worker(time_env, provider) as queue:
        handle = await approved(time_env, queue)
        issued = await until_recorded(time_env, provider, "return_label_issued")
        await until_status(time_env, handle, S.awaiting_buyer_return)
        await handle.signal(
            TicketWorkflow.tracking_event, courier("picked_up", tracking_no=LABEL_TRACKING)
        )
        await until_status(time_env, handle, S.return_in_transit)
        await handle.signal(
            TicketWorkflow.tracking_event, courier("delivered", tracking_no=LABEL_TRACKING)
        )
        await until_status(time_env, handle, S.awaiting_inspection)
        await inspect(handle)
        await until_status(time_env, handle, S.refunding)
        result = await handle.result()

    assert result.status is S.completed and result.refunded_amount == AMOUNT
    assert [r.ticket_no for r in provider.label_requests] == [handle.id]
    assert issued.to_status is S.awaiting_buyer_return and issued.version == 2
    assert issued.data == {"carrier": "sf", "tracking_no": LABEL_TRACKING, "label_id": "lb_1"}
    shipped = recorded(provider, "return_shipped")
    assert shipped.actor_role is Actor.system and shipped.data["label"] is True
    assert shipped.shipment is not None and shipped.shipment.tracking_no == LABEL_TRACKING
    assert "of the return label (picked_up)" in shipped.reason
    delivered = recorded(provider, "return_delivered")
    assert delivered.shipment is not None and delivered.shipment.status == "delivered"
    assert events(provider)[:5] == [
        "submitted_for_review",
        "approved_by_merchant",
        "return_label_issued",
        "return_shipped",
        "return_delivered",
    ]


async def test_the_label_parcel_found_by_the_poll_ships_the_return(
    time_env: WorkflowEnvironment,
) -> None:
    """No webhook comes: the courier poll of the label's tracking number finds the first scan."""
    provider = FakeProvider(courier_events=[courier("picked_up", tracking_no=LABEL_TRACKING)])
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **RETURN)
        await until_status(time_env, handle, S.awaiting_merchant_review)
        await approve(handle)
        await until_status(time_env, handle, S.return_in_transit)
    query = provider.parcel_queries[0]
    assert (query.carrier, query.tracking_no) == ("sf", LABEL_TRACKING)
    assert {"picked_up", "in_transit", "delivered", "lost"} <= set(query.until)
    assert recorded(provider, "return_shipped").shipment.tracking_no == LABEL_TRACKING  # type: ignore[union-attr]


async def test_a_delivery_reported_before_any_scan_ships_and_delivers_the_return(
    time_env: WorkflowEnvironment,
) -> None:
    """Couriers batch scans: the label parcel's first word may be its delivery."""
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await approved(time_env, queue)
        await until_recorded(time_env, provider, "return_label_issued")
        await handle.signal(
            TicketWorkflow.tracking_event, courier("delivered", tracking_no=LABEL_TRACKING)
        )
        await until_status(time_env, handle, S.awaiting_inspection)
    assert events(provider)[-2:] == ["return_shipped", "return_delivered"]


async def test_a_buyer_who_ships_another_way_is_followed_on_the_typed_number(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await approved(time_env, queue)
        await until_recorded(time_env, provider, "return_label_issued")
        await ship_back(handle)
        # The unused label's parcel is nothing to this ticket any more.
        await handle.signal(
            TicketWorkflow.tracking_event, courier("delivered", tracking_no=LABEL_TRACKING)
        )
        await handle.signal(TicketWorkflow.tracking_event, courier("delivered"))
        await until_status(time_env, handle, S.awaiting_inspection)
    shipped = recorded(provider, "return_shipped")
    assert shipped.actor_role is Actor.buyer
    assert shipped.shipment is not None and shipped.shipment.tracking_no == RETURN_TRACKING
    delivered = recorded(provider, "return_delivered")
    assert delivered.shipment is not None and delivered.shipment.tracking_no == RETURN_TRACKING


async def test_a_refused_label_leaves_the_buyer_to_ship_and_type_the_number(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(label=None)
    async with worker(time_env, provider) as queue:
        handle = await approved(time_env, queue)
        failed = await until_recorded(time_env, provider, "return_label_failed")
        await until_status(time_env, handle, S.awaiting_buyer_return)
        await ship_back(handle)
        await until_status(time_env, handle, S.return_in_transit)
    assert "no delivery address" in failed.reason and "sends the tracking number" in failed.reason
    assert len(provider.label_requests) == 1  # refused for good: not asked again
    assert "return_label_issued" not in events(provider)


async def test_a_courier_outage_is_retried_under_the_same_request(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(label_outages=2)
    async with worker(time_env, provider) as queue:
        handle = await approved(time_env, queue)
        await until_recorded(time_env, provider, "return_label_issued")
    assert [r.ticket_no for r in provider.label_requests] == [handle.id] * 3


async def test_the_buyer_can_ship_while_the_courier_is_still_asked(
    time_env: WorkflowEnvironment,
) -> None:
    """The label request does not close the inbox: an outage leaves the buyer free to ship."""
    provider = FakeProvider(label_outages=1000)
    async with worker(time_env, provider) as queue:
        handle = await approved(time_env, queue)
        await until_status(time_env, handle, S.awaiting_buyer_return)
        result = await ship_back(handle)
        await until_status(time_env, handle, S.return_in_transit)
    assert result.status is S.return_in_transit
    assert not {"return_label_issued", "return_label_failed"} & set(events(provider))


async def test_an_unused_label_lets_the_buyer_deadline_cancel_the_ticket(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    short = LABELLED.model_copy(update={"buyer_return": timedelta(hours=2)})
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **{**RETURN, "policy": short})
        await until_status(time_env, handle, S.awaiting_merchant_review)
        await approve(handle)
        await until_recorded(time_env, provider, "return_label_issued")
        await time_env.sleep(short.buyer_return + timedelta(minutes=1))
        timeout = await until_recorded(time_env, provider, "buyer_return_timeout")
        result = await handle.result()
    assert result.status is S.cancelled and timeout.to_status is S.cancelled


async def test_an_exchange_gets_a_label_too(time_env: WorkflowEnvironment) -> None:
    provider = FakeProvider()
    exchange = {**RETURN, "type": TicketType.exchange, "reason_code": "wrong_size_or_model"}
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **exchange)
        await until_status(time_env, handle, S.awaiting_merchant_review)
        await approve(handle)
        await until_recorded(time_env, provider, "return_label_issued")
        await handle.signal(
            TicketWorkflow.tracking_event, courier("in_transit", tracking_no=LABEL_TRACKING)
        )
        await until_status(time_env, handle, S.return_in_transit)
    assert recorded(provider, "return_shipped").data["label"] is True


async def test_tickets_without_labels_in_their_policy_ask_for_none(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    unlabelled = {**RETURN, "policy": LABELLED.model_copy(update={"return_labels": False})}
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **unlabelled)
        await until_status(time_env, handle, S.awaiting_merchant_review)
        await approve(handle)
        await until_status(time_env, handle, S.awaiting_buyer_return)
        await ship_back(handle)
        await until_status(time_env, handle, S.return_in_transit)
    assert provider.label_requests == []


async def test_two_actions_sent_while_the_label_is_written_take_one_turn_each(
    time_env: WorkflowEnvironment,
) -> None:
    """The inbox stays open while the label's step is written: the first action is taken, the
    second is refused as in progress, neither is answered with the other's outcome."""
    provider = FakeProvider(hold_at=f"{c.RECORD_TRANSITION}:return_label_issued")
    async with worker(time_env, provider) as queue:
        handle = await approved(time_env, queue)
        await asyncio.wait_for(provider.holding.wait(), 10)
        shipping = asyncio.create_task(ship_back(handle))
        await asyncio.sleep(0.5)  # the buyer's shipment is accepted first
        cancelling = handle.execute_update(
            TicketWorkflow.cancel, c.Cancel(actor=Actor.buyer, actor_id="b-1")
        )
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await cancelling
        provider.release.set()
        shipped = await shipping
        await until_status(time_env, handle, S.return_in_transit)

    cause = refused.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == c.ACTION_IN_PROGRESS
    assert shipped.status is S.return_in_transit
    assert events(provider)[-2:] == ["return_label_issued", "return_shipped"]
    assert recorded(provider, "return_shipped").actor_role is Actor.buyer
