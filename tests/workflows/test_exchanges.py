"""Exchange for another item on the time-skipping test server: a cheaper replacement refunds the
difference before it is shipped, a dearer one waits for the platform's word that the buyer paid
the difference, and without it the returned goods are refunded instead."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

import contracts as c
from domain.exchanges import ExchangeTerms, ReplacementLine
from domain.tickets import Actor, TicketStatus, TicketType
from tests.support import temporal as servers
from tests.workflows.fakes import (
    AMOUNT,
    FakeProvider,
    Handle,
    approve,
    courier,
    events,
    inspect,
    new_ticket_no,
    recorded,
    reopened_after_reversal,
    reship,
    ship_back,
    start,
    statuses,
    until_status,
    worker,
)
from workflows.exchange_steps import REFUND_INSTEAD
from workflows.ticket import TicketWorkflow

S = TicketStatus


@pytest.fixture(scope="module")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """A server of the module's own: these returns poll the courier."""
    async with servers.time_skipping_server() as env:
        yield env


def terms(unit_price: int) -> ExchangeTerms:
    """Two M tees at 15250 exchanged for two of another item at `unit_price`."""
    difference = (unit_price - 15250) * 2
    return ExchangeTerms(
        currency="CNY",
        lines=[
            ReplacementLine(
                line_id="L1",
                quantity=2,
                original_sku="TEE-M",
                original_unit_price=15250,
                returned_amount=AMOUNT,
                sku="TEE-X",
                title="tee, other",
                unit_price=unit_price,
                replacement_amount=unit_price * 2,
                difference=max(difference, -AMOUNT),
            )
        ],
        difference=max(difference, -AMOUNT),
    )


def exchange(unit_price: int) -> dict[str, Any]:
    return {
        "type": TicketType.exchange,
        "order_shipped": True,
        "order_delivered": True,
        "reason_code": "wrong_size_or_model",
        "exchange": terms(unit_price),
    }


CHEAPER = 13800  # 2 x 1450 = 2900 back
DEARER = 15951  # 2 x 701 = 1402 to pay


def paid(amount: int = 1402, reference: str = "pay-1") -> c.DifferencePayment:
    return c.DifferencePayment(
        reference=reference, amount=amount, currency="CNY", paid_at=datetime.now(UTC)
    )


async def returned_and_inspected(env: WorkflowEnvironment, handle: Handle) -> c.ActionResult:
    await until_status(env, handle, S.awaiting_merchant_review)
    await approve(handle)
    await ship_back(handle)
    await handle.signal(TicketWorkflow.tracking_event, courier("delivered"))
    await until_status(env, handle, S.awaiting_inspection)
    return await inspect(handle)


async def reshipped_and_received(env: WorkflowEnvironment, handle: Handle) -> c.TicketResult:
    await until_status(env, handle, S.awaiting_reship)
    await reship(handle)
    await handle.execute_update(
        TicketWorkflow.confirm_receipt, c.ConfirmReceipt(actor=Actor.buyer, actor_id="b-1")
    )
    return await handle.result()


async def test_a_cheaper_replacement_refunds_the_difference_less_the_fee_then_is_shipped(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(settle_after_polls=1, price_difference=2900)
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **exchange(CHEAPER))
        await until_status(time_env, handle, S.awaiting_merchant_review)
        too_much = approve(handle, service_fee=2901)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await too_much
        await approve(handle, service_fee=300)
        await ship_back(handle)
        await handle.signal(TicketWorkflow.tracking_event, courier("delivered"))
        await until_status(time_env, handle, S.awaiting_inspection)
        passed = await inspect(handle)
        result = await reshipped_and_received(time_env, handle)

    cause = refused.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == c.INVALID_ACTION
    assert cause.details == ("service_fee_out_of_range",)
    assert "price difference (2900)" in cause.message
    assert passed.status is S.refunding
    (grant,) = provider.grants
    assert grant.price_difference is True and grant.service_fee == 300 and grant.lines is None
    assert result.status is S.completed and result.refunded_amount == 2600
    assert statuses(provider) == [
        S.awaiting_merchant_review,
        S.awaiting_buyer_return,
        S.return_in_transit,
        S.awaiting_inspection,
        S.refunding,
        S.awaiting_reship,
        S.replacement_in_transit,
        S.completed,
    ]
    inspected = recorded(provider, "inspection_passed")
    assert "the replacement is cheaper (2 x TEE-M for TEE-X (tee, other) at CNY 138.00 each)" in (
        inspected.reason
    )
    assert "the difference of CNY 29.00 is refunded" in inspected.reason
    assert inspected.inspection is not None and inspected.granted_amount == 2600
    settled = recorded(provider, "refund_settled")
    assert settled.to_status is S.awaiting_reship and settled.next_actor is Actor.merchant
    assert settled.settlement is not None and settled.settlement.status == "succeeded"
    assert settled.data["amount"] == 2600


async def test_a_dearer_replacement_waits_for_the_payment_of_the_difference(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **exchange(DEARER))
        passed = await returned_and_inspected(time_env, handle)
        await until_status(time_env, handle, S.awaiting_difference_payment)
        waiting = await handle.query(TicketWorkflow.state)
        # Not the amount due: the ticket goes on waiting.
        await handle.signal(TicketWorkflow.difference_paid, paid(amount=1401, reference="pay-0"))
        await time_env.sleep(timedelta(hours=1))
        still = await handle.query(TicketWorkflow.state)
        await handle.signal(TicketWorkflow.difference_paid, paid())
        await until_status(time_env, handle, S.awaiting_reship)
        # Confirmed twice: nothing more happens.
        await handle.signal(TicketWorkflow.difference_paid, paid(reference="pay-2"))
        result = await reshipped_and_received(time_env, handle)

    assert passed.status is S.awaiting_difference_payment
    assert waiting["next_actor"] == Actor.buyer and waiting["on_timeout"] == REFUND_INSTEAD
    assert still["status"] == S.awaiting_difference_payment
    inspected = recorded(provider, "inspection_passed")
    assert inspected.deadline_at is not None
    assert inspected.deadline_at - inspected.at == timedelta(days=3)
    assert "the buyer pays the difference of CNY 14.02 before the merchant ships it" in (
        inspected.reason
    )
    assert inspected.data == {"difference": 1402, "currency": "CNY"}
    confirmed = recorded(provider, "difference_paid")
    assert confirmed.actor_role is Actor.platform
    assert confirmed.data["reference"] == "pay-1" and confirmed.data["amount"] == 1402
    assert "(payment pay-1)" in confirmed.reason
    assert events(provider).count("difference_paid") == 1
    assert result.status is S.completed and result.refunded_amount == 0
    assert provider.grants == [] and provider.executions == 0
    assert statuses(provider)[-4:] == [
        S.awaiting_difference_payment,
        S.awaiting_reship,
        S.replacement_in_transit,
        S.completed,
    ]


async def test_a_difference_paid_while_the_goods_travel_back_counts_once_they_are_accepted(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **exchange(DEARER))
        await until_status(time_env, handle, S.awaiting_merchant_review)
        await approve(handle)
        await ship_back(handle)
        await handle.signal(TicketWorkflow.difference_paid, paid())
        await handle.signal(TicketWorkflow.tracking_event, courier("delivered"))
        await until_status(time_env, handle, S.awaiting_inspection)
        await inspect(handle)
        result = await reshipped_and_received(time_env, handle)

    assert result.status is S.completed
    assert statuses(provider)[3:6] == [
        S.awaiting_inspection,
        S.awaiting_difference_payment,
        S.awaiting_reship,
    ]
    assert recorded(provider, "difference_paid").data["reference"] == "pay-1"


async def test_a_difference_not_paid_in_3_days_refunds_the_returned_goods_instead(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(settle_after_polls=1)
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **exchange(DEARER))
        await returned_and_inspected(time_env, handle)
        await time_env.sleep(timedelta(days=3, minutes=1))
        result = await handle.result()

    timeout = recorded(provider, "difference_payment_timeout")
    assert timeout.from_status is S.awaiting_difference_payment
    assert timeout.to_status is S.refunding and timeout.actor_role is Actor.system
    assert "did not pay the difference of CNY 14.02 within 3 days" in timeout.reason
    (grant,) = provider.grants
    assert grant.price_difference is False
    assert result.status is S.completed and result.refunded_amount == AMOUNT
    assert S.awaiting_reship not in statuses(provider)


async def test_the_buyer_may_escalate_instead_of_paying(time_env: WorkflowEnvironment) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **exchange(DEARER))
        await returned_and_inspected(time_env, handle)
        await until_status(time_env, handle, S.awaiting_difference_payment)
        escalated = await handle.execute_update(
            TicketWorkflow.escalate,
            c.Escalate(actor=Actor.buyer, actor_id="b-1", reason="the price changed"),
        )
        # Support decides: the goods go back to the buyer, and the ticket ends.
        await handle.execute_update(
            TicketWorkflow.arbitrate,
            c.Arbitration(actor=Actor.support, actor_id="s-1", decision="return_to_buyer"),
        )
        result = await handle.result()

    assert escalated.status is S.under_arbitration
    assert recorded(provider, "escalated_by_buyer").from_status is S.awaiting_difference_payment
    assert result.status is S.closed and result.refunded_amount == 0


async def test_a_difference_refund_sent_again_after_a_failure_still_ships_the_replacement(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(settle_after_polls=1, price_difference=2900, refuse=True)
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **exchange(CHEAPER))
        await returned_and_inspected(time_env, handle)
        await until_status(time_env, handle, S.refund_failed)
        provider.refuse = False  # the provider pays the second attempt
        await handle.execute_update(
            TicketWorkflow.retry_refund, c.RetryRefund(actor=Actor.support, actor_id="s-1")
        )
        result = await reshipped_and_received(time_env, handle)

    assert [g.price_difference for g in provider.grants] == [True, True]
    assert result.status is S.completed and result.refunded_amount == 2900
    assert statuses(provider)[4:8] == [
        S.refunding,
        S.refund_failed,
        S.refunding,
        S.awaiting_reship,
    ]


async def test_a_declined_second_approval_of_the_difference_ships_the_replacement_without_it(
    time_env: WorkflowEnvironment,
) -> None:
    """The goods are back and accepted: support declining the difference refund does not undo
    the exchange (before, it rejected the ticket, and the buyer had neither item nor money)."""
    provider = FakeProvider(price_difference=2900, needs_second_approval=True)
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **exchange(CHEAPER))
        passed = await returned_and_inspected(time_env, handle)
        answer = await handle.execute_update(
            TicketWorkflow.second_approval,
            c.SecondApproval(approve=False, actor_id="s-1", note="difference looks wrong"),
        )
        assert answer.status is S.awaiting_reship, answer
        result = await reshipped_and_received(time_env, handle)

    assert passed.status is S.awaiting_second_approval
    assert statuses(provider)[4:] == [
        S.awaiting_second_approval,
        S.awaiting_reship,
        S.replacement_in_transit,
        S.completed,
    ]
    declined = recorded(provider, "difference_refund_declined")
    assert declined.from_status is S.awaiting_second_approval
    assert declined.actor_role is Actor.support and declined.actor_id == "s-1"
    assert declined.next_actor is Actor.merchant
    assert declined.reason.startswith(
        "support declined the refund as second approver: difference looks wrong: the "
        "difference is not refunded; the merchant ships the replacement"
    )
    assert "second_approval_declined" not in events(provider)
    assert result.status is S.completed and result.refunded_amount == 0


async def test_a_difference_refund_reversed_after_the_exchange_ended_is_paid_again_without_reship(
    time_env: WorkflowEnvironment,
) -> None:
    """The bank sent the difference back after the buyer had the replacement: support pays it
    again, and the ticket completes; the replacement is not shipped a second time."""
    provider = FakeProvider(price_difference=2900)
    start_options = reopened_after_reversal(new_ticket_no())
    start_options["reopened"] = start_options["reopened"].model_copy(
        update={
            "refunded_amount": 2900,
            "amount": 2900,
            "requested_amount": 2900,
            "lines": {},
            "price_difference": True,
        }
    )
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **exchange(CHEAPER), **start_options)
        await until_status(time_env, handle, S.refund_failed)
        await handle.execute_update(
            TicketWorkflow.retry_refund,
            c.RetryRefund(actor=Actor.support, actor_id="s-1", destination="balance"),
        )
        result = await handle.result()

    (grant,) = provider.grants
    assert grant.price_difference is True
    assert events(provider) == ["refund_reversed", "refund_retried", "refund_settled"]
    assert recorded(provider, "refund_settled").to_status is S.completed
    assert result.status is S.completed and result.refunded_amount == 2900
