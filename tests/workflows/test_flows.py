"""Each flow of SPEC §2 on the time-skipping test server, from opening to a terminal state,
driven by actors' Updates and by the couriers' and payment provider's signals."""

from __future__ import annotations

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
    REPLACEMENT_TRACKING,
    RETURN_TRACKING,
    FakeProvider,
    Handle,
    approve,
    courier,
    events,
    inspect,
    recorded,
    reship,
    ship_back,
    start,
    statuses,
    until_status,
    worker,
)
from workflows.ticket import TicketWorkflow

S = TicketStatus


@pytest.fixture(scope="module")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """A server of the module's own: these returns poll the courier, and a shared server's clock
    was seen running past a ticket's run while a later test awaited its result."""
    async with servers.time_skipping_server() as env:
        yield env


RETURN = {"type": TicketType.return_refund, "order_shipped": True, "order_delivered": True}
EXCHANGE = {
    "type": TicketType.exchange,
    "order_shipped": True,
    "order_delivered": True,
    "reason_code": "wrong_size_or_model",
}
FEE = 2000


async def refusal(call: Any) -> ApplicationError:
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await call
    assert isinstance(failed.value.cause, ApplicationError)
    return failed.value.cause


def webhook(handle: Handle, event_id: str = "evt_1", status: str = "succeeded") -> c.PaymentSignal:
    return c.PaymentSignal(
        event_id=event_id,
        idempotency_key=f"{handle.id}-R1",
        provider_refund_id="re_1",
        status=status,
    )


async def delivered(env: WorkflowEnvironment, handle: Handle) -> None:
    await handle.signal(TicketWorkflow.tracking_event, courier("delivered"))
    await until_status(env, handle, S.awaiting_inspection)


async def escalated_by_the_merchant(env: WorkflowEnvironment, handle: Handle) -> c.ActionResult:
    await until_status(env, handle, S.awaiting_merchant_review)
    return await handle.execute_update(
        TicketWorkflow.escalate,
        c.Escalate(actor=Actor.merchant, actor_id="m-1", reason="the buyer used the goods"),
    )


# --- refund only, after shipment -------------------------------------------------------------


async def test_a_refund_after_shipment_is_reviewed_approved_and_refunded(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, order_shipped=True, reason_code="damaged_in_transit")
        await until_status(time_env, handle, S.awaiting_merchant_review)
        fee = await refusal(approve(handle, service_fee=100))
        answer = await approve(handle, note="the parcel arrived broken")
        while provider.executions == 0:
            await time_env.sleep(timedelta(seconds=1))
        await handle.signal(TicketWorkflow.payment_event, webhook(handle))
        result = await handle.result()

    assert fee.type == "InvalidAction" and fee.details == ("service_fee_not_allowed",)
    assert answer == c.ActionResult(status=S.refunding, version=2)
    assert result.status is S.completed and result.refunded_amount == AMOUNT
    assert statuses(provider) == [S.awaiting_merchant_review, S.refunding, S.completed]
    opened, approved = provider.transitions[0], provider.transitions[1]
    assert opened.next_actor is Actor.merchant and opened.deadline_at is not None
    assert (approved.event, approved.actor_role, approved.actor_id) == (
        "approved_by_merchant",
        Actor.merchant,
        "m-1",
    )
    assert "the parcel arrived broken" in approved.reason
    assert approved.granted_amount == AMOUNT
    assert [(g.service_fee, g.requested_amount) for g in provider.grants] == [(0, None)]
    assert provider.executions == 1 and provider.polls == 0
    assert [s.source for s in provider.settlements] == ["webhook"]


async def test_a_merchant_rejection_the_buyer_escalates_is_arbitrated(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(settle_after_polls=1)
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, order_shipped=True, reason_code="lost_in_transit")
        await until_status(time_env, handle, S.awaiting_merchant_review)
        await handle.execute_update(
            TicketWorkflow.reject,
            c.Reject(actor=Actor.merchant, actor_id="m-1", reason_code="delivered_to_locker"),
        )
        await time_env.sleep(timedelta(days=6))
        await handle.execute_update(
            TicketWorkflow.escalate,
            c.Escalate(actor=Actor.buyer, actor_id="b-1", reason="the locker was empty"),
        )
        await handle.execute_update(
            TicketWorkflow.arbitrate, c.Arbitration(decision="refund", actor_id="s-1")
        )
        result = await handle.result()

    assert result.status is S.completed and result.refunded_amount == AMOUNT
    assert events(provider) == [
        "submitted_for_review",
        "rejected_by_merchant",
        "escalated_by_buyer",
        "arbitrated_refund",
        "refund_settled",
    ]
    escalation = recorded(provider, "escalated_by_buyer")
    assert escalation.escalated is True and "the locker was empty" in escalation.reason


async def test_a_buyer_may_withdraw_during_the_review(time_env: WorkflowEnvironment) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **RETURN)
        await until_status(time_env, handle, S.awaiting_merchant_review)
        await handle.execute_update(
            TicketWorkflow.cancel, c.Cancel(actor=Actor.buyer, actor_id="b-1", note="found it")
        )
        result = await handle.result()

    assert result.status is S.cancelled
    cancelled = provider.transitions[-1]
    assert (cancelled.event, cancelled.actor_role) == ("cancelled_by_buyer", Actor.buyer)
    assert cancelled.next_actor is None and cancelled.deadline_at is None


# --- return and refund -----------------------------------------------------------------------


async def test_a_return_is_approved_with_a_fee_shipped_inspected_and_refunded_less_the_fee(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(settle_after_polls=1)
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **RETURN)
        await until_status(time_env, handle, S.awaiting_merchant_review)
        too_high = await refusal(approve(handle, service_fee=AMOUNT + 1))
        approved = await approve(handle, service_fee=FEE)
        early = await refusal(inspect(handle))
        shipped = await ship_back(handle)
        # Not final, or not this parcel: the ticket waits on.
        await handle.signal(TicketWorkflow.tracking_event, courier("in_transit"))
        await handle.signal(
            TicketWorkflow.tracking_event, courier("delivered", tracking_no="OTHER-1")
        )
        await time_env.sleep(timedelta(days=2))
        waiting = await handle.query(TicketWorkflow.state)
        await delivered(time_env, handle)
        mismatch = await refusal(inspect(handle, accepted=1))
        inspected = await inspect(handle, note="all units fine")
        result = await handle.result()

    assert too_high.details == ("service_fee_out_of_range",)
    assert early.type == "IllegalTransition"
    assert mismatch.details == ("inspection_lines_mismatch",)
    assert approved.status is S.awaiting_buyer_return
    assert shipped.status is S.return_in_transit
    assert waiting["status"] == S.return_in_transit
    assert inspected.status is S.refunding
    assert result.status is S.completed and result.refunded_amount == AMOUNT - FEE
    assert statuses(provider) == [
        S.awaiting_merchant_review,
        S.awaiting_buyer_return,
        S.return_in_transit,
        S.awaiting_inspection,
        S.refunding,
        S.completed,
    ]
    approval = recorded(provider, "approved_by_merchant")
    assert (approval.service_fee, approval.warehouse_id) == (FEE, "wh-1")
    assert "service fee CNY 20.00" in approval.reason
    shipment = recorded(provider, "return_shipped").shipment
    assert shipment is not None and shipment.tracking_no == RETURN_TRACKING
    arrival = recorded(provider, "return_delivered")
    assert arrival.shipment is not None and arrival.shipment.status == "delivered"
    passed = recorded(provider, "inspection_passed")
    assert passed.actor_role is Actor.warehouse and passed.inspection is not None
    assert passed.inspection.passed and passed.granted_amount == AMOUNT - FEE
    assert [g.service_fee for g in provider.grants] == [FEE]


async def test_a_parcel_inspected_before_the_courier_reports_it_is_refunded(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(settle_after_polls=1)
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **RETURN)
        await until_status(time_env, handle, S.awaiting_merchant_review)
        await approve(handle)
        await ship_back(handle)
        await inspect(handle)
        result = await handle.result()

    assert result.status is S.completed and result.refunded_amount == AMOUNT
    assert "return_delivered" not in events(provider)


async def test_a_failed_inspection_ends_in_the_partial_refund_the_merchant_offers(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(settle_after_polls=1)
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **RETURN)
        await until_status(time_env, handle, S.awaiting_merchant_review)
        await approve(handle)
        await ship_back(handle)
        await delivered(time_env, handle)
        failed = await inspect(handle, accepted=1, rejected=1, note="one unit worn")
        missing = await refusal(
            handle.execute_update(
                TicketWorkflow.resolve_inspection,
                c.ResolveInspection(actor=Actor.merchant, decision="partial_refund"),
            )
        )
        too_much = await refusal(
            handle.execute_update(
                TicketWorkflow.resolve_inspection,
                c.ResolveInspection(
                    actor=Actor.merchant, decision="partial_refund", amount=AMOUNT + 1
                ),
            )
        )
        offered = await handle.execute_update(
            TicketWorkflow.resolve_inspection,
            c.ResolveInspection(
                actor=Actor.merchant, actor_id="m-1", decision="partial_refund", amount=15000
            ),
        )
        result = await handle.result()

    assert failed.status is S.inspection_failed
    assert missing.details == ("amount_required",)
    assert too_much.details == ("amount_exceeds_maximum",)
    assert offered.status is S.refunding
    assert result.status is S.completed and result.refunded_amount == 15000
    inspection = recorded(provider, "inspection_failed")
    assert (
        inspection.next_actor is Actor.merchant and "1 of 2 unit(s) rejected" in inspection.reason
    )
    assert inspection.inspection is not None and not inspection.inspection.passed
    assert [g.requested_amount for g in provider.grants] == [15000]
    partial = recorded(provider, "inspection_resolved_partial_refund")
    assert partial.actor_role is Actor.merchant and partial.granted_amount == 15000


async def test_goods_sent_back_to_the_buyer_after_a_failed_inspection_close_the_ticket(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **RETURN)
        await until_status(time_env, handle, S.awaiting_merchant_review)
        await approve(handle)
        await ship_back(handle)
        await inspect(handle, accepted=0, rejected=2)
        answer = await handle.execute_update(
            TicketWorkflow.resolve_inspection,
            c.ResolveInspection(actor=Actor.merchant, actor_id="m-1", decision="return_to_buyer"),
        )
        result = await handle.result()

    assert answer.status is S.rejected
    assert result.status is S.closed and result.refunded_amount == 0
    assert events(provider)[-2:] == [
        "inspection_resolved_return_to_buyer",
        "closed_after_rejection",
    ]
    assert provider.grants == []


async def test_a_return_parcel_the_courier_loses_is_refunded_automatically(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(settle_after_polls=1)
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **RETURN)
        await until_status(time_env, handle, S.awaiting_merchant_review)
        await approve(handle, service_fee=FEE)
        await ship_back(handle)
        await handle.signal(TicketWorkflow.tracking_event, courier("lost"))
        # Waiting for the result skips the clock freely: on a busy machine past the parcel's
        # 15-day deadline before the signal is applied. The refund is awaited a second at a time.
        await until_status(time_env, handle, S.refunding)
        await until_status(time_env, handle, S.completed)
        result = await handle.result()

    assert result.status is S.completed and result.refunded_amount == AMOUNT - FEE
    lost = recorded(provider, "return_lost")
    assert lost.from_status is S.return_in_transit and lost.to_status is S.refunding
    assert lost.actor_role is Actor.system and "merchant claims from the courier" in lost.reason
    assert lost.shipment is not None and lost.shipment.status == "lost"
    assert [g.service_fee for g in provider.grants] == [FEE]


# --- exchange --------------------------------------------------------------------------------


async def test_an_exchange_goes_back_is_inspected_reshipped_and_confirmed(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **EXCHANGE)
        await until_status(time_env, handle, S.awaiting_merchant_review)
        await approve(handle)
        await ship_back(handle)
        await delivered(time_env, handle)
        passed = await inspect(handle)
        shipped = await reship(handle)
        confirmed = await handle.execute_update(
            TicketWorkflow.confirm_receipt, c.ConfirmReceipt(actor=Actor.buyer, actor_id="b-1")
        )
        result = await handle.result()

    assert passed.status is S.awaiting_reship
    assert shipped.status is S.replacement_in_transit
    assert confirmed.status is S.completed
    assert result.status is S.completed and result.refunded_amount == 0
    assert statuses(provider) == [
        S.awaiting_merchant_review,
        S.awaiting_buyer_return,
        S.return_in_transit,
        S.awaiting_inspection,
        S.awaiting_reship,
        S.replacement_in_transit,
        S.completed,
    ]
    replacement = recorded(provider, "replacement_shipped")
    assert replacement.shipment is not None
    assert (replacement.shipment.direction, replacement.shipment.tracking_no) == (
        "replacement",
        REPLACEMENT_TRACKING,
    )
    assert replacement.next_actor is Actor.buyer
    receipt = recorded(provider, "receipt_confirmed")
    assert (receipt.actor_role, receipt.actor_id) == (Actor.buyer, "b-1")
    assert provider.grants == [] and provider.executions == 0


# --- escalation and arbitration --------------------------------------------------------------


@pytest.mark.parametrize(
    ("ruling", "final", "refunded"),
    [
        (c.Arbitration(decision="refund", actor_id="s-1"), S.completed, AMOUNT),
        (
            c.Arbitration(decision="partial_refund", amount=12000, actor_id="s-1"),
            S.completed,
            12000,
        ),
        (c.Arbitration(decision="reject", actor_id="s-1", note="used goods"), S.closed, 0),
        (c.Arbitration(decision="return_to_buyer", actor_id="s-1"), S.closed, 0),
    ],
    ids=lambda value: value.decision if isinstance(value, c.Arbitration) else None,
)
async def test_support_arbitrates_an_escalated_ticket(
    time_env: WorkflowEnvironment, ruling: c.Arbitration, final: TicketStatus, refunded: int
) -> None:
    provider = FakeProvider(settle_after_polls=1)
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **RETURN)
        escalated = await escalated_by_the_merchant(time_env, handle)
        not_support = await refusal(
            handle.execute_update(
                TicketWorkflow.arbitrate,
                c.Arbitration(actor=Actor.merchant, decision="reject"),
            )
        )
        answer = await handle.execute_update(TicketWorkflow.arbitrate, ruling)
        result = await handle.result()

    assert escalated.status is S.under_arbitration
    assert not_support.type == "IllegalTransition"
    assert result.status is final and result.refunded_amount == refunded
    escalation = recorded(provider, "escalated_by_merchant")
    assert escalation.escalated is True and escalation.next_actor is Actor.support
    assert escalation.actor_role is Actor.merchant
    ruled = provider.transitions[2]
    assert ruled.event == f"arbitrated_{ruling.decision}"
    assert (ruled.actor_role, ruled.actor_id) == (Actor.support, "s-1")
    if refunded:
        assert answer.status is S.refunding and ruled.granted_amount == refunded
        assert statuses(provider)[-1] is S.completed
    else:
        assert answer.status is S.closed and ruled.next_actor is None
        assert provider.grants == []
    if ruling.decision == "partial_refund":
        assert [g.requested_amount for g in provider.grants] == [12000]


async def test_an_arbitrated_partial_refund_needs_an_amount_within_the_refund(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **RETURN)
        await escalated_by_the_merchant(time_env, handle)
        missing = await refusal(
            handle.execute_update(
                TicketWorkflow.arbitrate, c.Arbitration(decision="partial_refund")
            )
        )
        too_much = await refusal(
            handle.execute_update(
                TicketWorkflow.arbitrate,
                c.Arbitration(decision="partial_refund", amount=AMOUNT + 1),
            )
        )
        state = await handle.query(TicketWorkflow.state)

    assert missing.details == ("amount_required",)
    assert too_much.details == ("amount_exceeds_maximum",)
    assert (state["status"], state["version"]) == (S.under_arbitration, 2)


# --- signals: couriers and the payment provider redeliver ------------------------------------


async def test_redelivered_courier_and_payment_events_act_once(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **RETURN)
        await until_status(time_env, handle, S.awaiting_merchant_review)
        await approve(handle)
        await ship_back(handle)
        arrival = courier("delivered", event_id="trk-1")
        for _ in range(3):
            await handle.signal(TicketWorkflow.tracking_event, arrival)
        await until_status(time_env, handle, S.awaiting_inspection)
        # A later "lost" from a confused courier changes nothing either.
        await handle.signal(TicketWorkflow.tracking_event, courier("lost"))
        await inspect(handle)
        while provider.executions == 0:
            await time_env.sleep(timedelta(seconds=1))
        # A webhook for another refund, then the right one, twice.
        await handle.signal(
            TicketWorkflow.payment_event,
            webhook(handle, "evt_0").model_copy(update={"idempotency_key": "other-R1"}),
        )
        await handle.signal(TicketWorkflow.payment_event, webhook(handle))
        await handle.signal(TicketWorkflow.payment_event, webhook(handle))
        # A contradicting event after the refund is final is ignored.
        await handle.signal(TicketWorkflow.payment_event, webhook(handle, "evt_2", "failed"))
        result = await handle.result()

    assert result.status is S.completed and result.refunded_amount == AMOUNT
    assert events(provider) == [
        "submitted_for_review",
        "approved_by_merchant",
        "return_shipped",
        "return_delivered",
        "inspection_passed",
        "refund_settled",
    ]
    assert recorded(provider, "return_delivered").data["event_id"] == "trk-1"
    assert [(s.source, s.status) for s in provider.settlements] == [("webhook", "succeeded")]
    assert provider.executions == 1


async def test_a_ticket_waits_for_settlement_across_time_without_a_webhook(
    time_env: WorkflowEnvironment,
) -> None:
    """No webhook: the hourly poll settles the refund of a reviewed return."""
    provider = FakeProvider(settle_after_polls=5)
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **RETURN)
        await until_status(time_env, handle, S.awaiting_merchant_review)
        await approve(handle)
        await ship_back(handle)
        await inspect(handle)
        result = await handle.result()

    assert result.status is S.completed and provider.polls == 5
    settled = recorded(provider, "refund_settled")
    refunding = recorded(provider, "inspection_passed")
    assert timedelta(hours=5) <= settled.at - refunding.at < timedelta(hours=6)
    assert [s.source for s in provider.settlements] == ["poll"]
