"""Refunds that do not simply go back to the original payment: the fallback to balance, a retry to
another destination, and a refund the bank sends back after it succeeded."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

import contracts as c
from domain.tickets import Actor, TicketStatus
from tests.workflows.fakes import (
    AMOUNT,
    FakeProvider,
    events,
    new_ticket_no,
    recorded,
    reopened_after_reversal,
    start,
    until_status,
    worker,
)
from workflows.ticket import TicketWorkflow

S = TicketStatus


async def test_a_payment_too_old_to_refund_is_refunded_to_balance_instead(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(refuse=True, refusal_code="payment_too_old")
    async with worker(time_env, provider) as queue:
        result = await (await start(time_env, queue)).result()

    assert result.status is S.completed and result.refunded_amount == AMOUNT
    assert events(provider) == [
        "approved_by_rule",
        "refund_redirected_to_balance",
        "refund_settled",
    ]
    redirected = recorded(provider, "refund_redirected_to_balance")
    assert redirected.from_status is S.refunding and redirected.to_status is S.refunding
    assert "payment_too_old" in redirected.reason
    assert [(g.refund_seq, g.destination) for g in provider.grants] == [
        (1, None),
        (2, c.RefundDestination(kind="balance")),
    ]
    assert [(s.idempotency_key[-2:], s.status) for s in provider.settlements] == [
        ("R1", "failed"),
        ("R2", "succeeded"),
    ]


async def test_a_refusal_for_another_reason_waits_for_support(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(refuse=True, refusal_code="card_closed")
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue)
        await until_status(time_env, handle, S.refund_failed)
        state = await handle.query(TicketWorkflow.state)

    assert events(provider) == ["approved_by_rule", "refund_failed"]
    assert state["next_actor"] == "support" and len(provider.grants) == 1


async def test_support_retries_a_failed_refund_to_another_destination(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(refuse=True, refusal_code="card_closed")
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue)
        await until_status(time_env, handle, S.refund_failed)
        with pytest.raises(WorkflowUpdateFailedError) as no_account:
            await handle.execute_update(
                TicketWorkflow.retry_refund,
                c.RetryRefund(actor=Actor.support, destination="bank_transfer"),
            )
        with pytest.raises(WorkflowUpdateFailedError) as unknown:
            await handle.execute_update(
                TicketWorkflow.retry_refund, c.RetryRefund(actor=Actor.support, destination="gold")
            )
        await handle.execute_update(
            TicketWorkflow.retry_refund,
            c.RetryRefund(actor=Actor.support, actor_id="s-1", destination="coupon"),
        )
        result = await handle.result()

    assert _code(no_account.value) == "bank_account_required"
    assert _code(unknown.value) == "destination_not_available"
    assert result.status is S.completed
    assert provider.grants[-1].destination == c.RefundDestination(kind="coupon")
    assert "a compensation coupon" in recorded(provider, "refund_retried").reason


async def test_a_refund_reversed_after_the_ticket_ended_reopens_it_for_support(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **reopened_after_reversal(new_ticket_no()))
        await until_status(time_env, handle, S.refund_failed)
        reopened = await handle.query(TicketWorkflow.state)
        await handle.execute_update(
            TicketWorkflow.retry_refund,
            c.RetryRefund(actor=Actor.support, actor_id="s-1", destination="balance"),
        )
        result = await handle.result()

    reversal = recorded(provider, "refund_reversed")
    # The record carries on where the ended run left it.
    assert (reversal.seq, reversal.version) == (3, 3)
    assert reversal.from_status is S.completed and "account_frozen" in reversal.reason
    assert reopened["next_actor"] == "support" and reopened["refund"]["status"] == "reversed"
    assert provider.settlements[0].status == "reversed"
    assert provider.settlements[0].source == "webhook"
    [grant] = provider.grants
    assert (grant.refund_seq, grant.requested_amount, grant.lines) == (2, AMOUNT, {"L1": 2})
    assert grant.destination == c.RefundDestination(kind="balance")
    assert events(provider) == ["refund_reversed", "refund_retried", "refund_settled"]
    assert result.status is S.completed and result.refunded_amount == AMOUNT


async def test_a_reversal_for_a_refund_that_never_succeeded_changes_nothing(
    time_env: WorkflowEnvironment,
) -> None:
    """The provider reverses only what it paid; a stray event must not reopen anything."""
    provider = FakeProvider(settle_after_polls=1)
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue)
        await handle.signal(
            TicketWorkflow.payment_event,
            c.PaymentSignal(
                event_id="evt_early",
                idempotency_key=f"{handle.id}-R1",
                provider_refund_id="re_1",
                status="reversed",
            ),
        )
        result = await handle.result()

    assert result.status is S.completed
    assert "refund_reversed" not in events(provider)


async def test_a_refund_found_reversed_while_awaiting_settlement_goes_to_support(
    time_env: WorkflowEnvironment,
) -> None:
    """Its webhooks were missed; the poll finds it already sent back by the bank."""
    provider = FakeProvider(settle_after_polls=2, final_status="reversed")
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue)
        await until_status(time_env, handle, S.refund_failed)
        state = await handle.query(TicketWorkflow.state)

    assert events(provider) == ["approved_by_rule", "refund_reversed"]
    assert "came back after it succeeded" in recorded(provider, "refund_reversed").reason
    assert [(s.status, s.source) for s in provider.settlements] == [("reversed", "poll")]
    assert state["next_actor"] == "support" and provider.polls == 2


async def test_a_webhook_faster_than_the_refund_call_settles_the_refund(
    time_env: WorkflowEnvironment,
) -> None:
    """The provider's `refund.succeeded` arrives while our call to it has not returned yet."""
    answer = asyncio.Event()
    provider = FakeProvider(answer_when=answer, settle_after_polls=1)
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue)
        await provider.called.wait()
        await handle.signal(
            TicketWorkflow.payment_event,
            c.PaymentSignal(
                event_id="evt_fast",
                idempotency_key=f"{handle.id}-R1",
                provider_refund_id="re_1",
                status="succeeded",
            ),
        )
        await asyncio.sleep(0.2)  # the signal is in the history before the call answers
        answer.set()
        result = await handle.result()

    assert result.status is S.completed
    assert [(s.status, s.source) for s in provider.settlements] == [("succeeded", "webhook")]
    assert provider.polls == 0


def _code(error: Any) -> str | None:
    cause = error.cause
    if not isinstance(cause, ApplicationError) or not cause.details:
        return None
    return str(cause.details[0])
