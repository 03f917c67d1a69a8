"""The refund-before-shipment flow on the time-skipping test server, activities faked by name."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

import contracts as c
from domain.tickets import Actor, TicketStatus
from tests.workflows.fakes import (
    AMOUNT,
    FakeProvider,
    recorded,
    start,
    statuses,
    until_status,
    worker,
)
from workflows.ticket import TicketWorkflow


async def test_a_webhook_settles_the_refund_and_completes_the_ticket(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue)
        # Wait until the refund was sent, then deliver the provider's webhook twice.
        while provider.executions == 0:
            await time_env.sleep(timedelta(seconds=1))
        signal = c.PaymentSignal(
            event_id="evt_1",
            idempotency_key=f"{handle.id}-R1",
            provider_refund_id="re_1",
            status="succeeded",
        )
        await handle.signal(TicketWorkflow.payment_event, signal)
        await handle.signal(TicketWorkflow.payment_event, signal)
        result = await handle.result()

    assert result.status is TicketStatus.completed
    assert result.refunded_amount == AMOUNT
    assert statuses(provider) == [TicketStatus.refunding, TicketStatus.completed]
    approved = provider.transitions[0]
    assert approved.event == "approved_by_rule"
    assert "needs no merchant review" in approved.reason
    assert "includes shipping" in approved.reason
    assert approved.granted_amount == AMOUNT
    assert approved.deadline_at is not None and approved.on_timeout
    assert [s.source for s in provider.settlements] == ["webhook"]
    assert provider.polls == 0
    assert [t.seq for t in provider.transitions] == [1, 2]


async def test_without_a_webhook_the_ticket_polls_the_provider_until_final(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(settle_after_polls=3)
    async with worker(time_env, provider) as queue:
        result = await (await start(time_env, queue)).result()

    assert result.status is TicketStatus.completed
    assert provider.polls == 3
    assert [s.source for s in provider.settlements] == ["poll"]


async def test_a_refund_pending_past_its_deadline_alerts_support_and_keeps_reconciling(
    time_env: WorkflowEnvironment,
) -> None:
    # Polled hourly; settles on the 200th poll, i.e. past the 7-day settlement deadline.
    provider = FakeProvider(settle_after_polls=200)
    async with worker(time_env, provider) as queue:
        result = await (await start(time_env, queue)).result()

    assert result.status is TicketStatus.completed
    assert statuses(provider) == [
        TicketStatus.refunding,
        TicketStatus.refunding,
        TicketStatus.completed,
    ]
    overdue = provider.transitions[1]
    assert overdue.event == "settlement_overdue"
    assert overdue.next_actor is Actor.support
    assert overdue.at - provider.transitions[0].at >= timedelta(days=7)


async def test_a_failed_refund_waits_for_support_who_sends_it_again_under_a_new_key(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(settle_after_polls=1, final_status="failed")
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue)
        await until_status(time_env, handle, TicketStatus.refund_failed)
        failed = provider.transitions[-1]
        with pytest.raises(WorkflowUpdateFailedError) as elsewhere:
            await handle.execute_update(
                TicketWorkflow.retry_refund,
                c.RetryRefund(actor=Actor.support, destination="bank_transfer"),
            )
        # The provider works again: the second attempt settles.
        provider.final_status, provider.polls = "succeeded", 0
        answer = await handle.execute_update(
            TicketWorkflow.retry_refund,
            c.RetryRefund(actor=Actor.support, actor_id="s-1", note="card reissued"),
        )
        result = await handle.result()

    assert failed.to_status is TicketStatus.refund_failed
    assert failed.next_actor is Actor.support
    assert isinstance(elsewhere.value.cause, ApplicationError)
    assert elsewhere.value.cause.type == "InvalidAction"
    assert answer.status is TicketStatus.refunding
    assert result.status is TicketStatus.completed and result.refunded_amount == AMOUNT
    assert [g.idempotency_key for g in provider.grants] == [f"{handle.id}-R1", f"{handle.id}-R2"]
    assert provider.executions == 2
    assert [s.status for s in provider.settlements] == ["failed", "succeeded"]
    retried = recorded(provider, "refund_retried")
    assert (retried.actor_role, retried.actor_id) == (Actor.support, "s-1")
    assert "card reissued" in retried.reason


async def test_a_refund_the_provider_refuses_outright_is_never_polled(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(refuse=True)
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue)
        await until_status(time_env, handle, TicketStatus.refund_failed)

    assert provider.polls == 0
    assert "payment_too_old" in provider.transitions[-1].reason


async def test_a_large_refund_waits_for_support_and_moves_money_only_once_approved(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(settle_after_polls=1, needs_second_approval=True)
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue)
        await until_status(time_env, handle, TicketStatus.awaiting_second_approval)
        # Days pass without a decision: nothing is sent to the provider.
        await time_env.sleep(timedelta(days=3))
        assert provider.executions == 0
        with pytest.raises(WorkflowUpdateFailedError) as stale:
            await handle.execute_update(
                TicketWorkflow.second_approval,
                c.SecondApproval(approve=True, expected_version=0),
            )
        answer = await handle.execute_update(
            TicketWorkflow.second_approval,
            c.SecondApproval(approve=True, note="checked the order", actor_id="s-1"),
        )
        result = await handle.result()

    assert isinstance(stale.value.cause, ApplicationError)
    assert stale.value.cause.type == "VersionConflict"
    assert answer.status is TicketStatus.refunding
    assert result.status is TicketStatus.completed and result.refunded_amount == AMOUNT
    assert provider.executions == 1
    assert statuses(provider) == [
        TicketStatus.awaiting_second_approval,
        TicketStatus.refunding,
        TicketStatus.completed,
    ]
    approved = provider.transitions[1]
    assert (approved.event, approved.actor_role, approved.actor_id) == (
        "second_approval_granted",
        Actor.support,
        "s-1",
    )


async def test_a_declined_large_refund_voids_the_grant_and_closes_after_the_buyer_deadline(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(needs_second_approval=True)
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue)
        await until_status(time_env, handle, TicketStatus.awaiting_second_approval)
        answer = await handle.execute_update(
            TicketWorkflow.second_approval, c.SecondApproval(approve=False, note="duplicate claim")
        )
        with pytest.raises(WorkflowUpdateFailedError) as again:
            await handle.execute_update(
                TicketWorkflow.second_approval, c.SecondApproval(approve=True)
            )
        result = await handle.result()

    assert answer.status is TicketStatus.rejected
    assert isinstance(again.value.cause, ApplicationError)
    assert again.value.cause.type == "IllegalTransition"
    assert result.status is TicketStatus.closed and result.refunded_amount == 0
    assert provider.executions == 0
    assert [s.status for s in provider.settlements] == ["voided"]
    rejected, closed = provider.transitions[1], provider.transitions[2]
    assert rejected.to_status is TicketStatus.rejected and rejected.next_actor is Actor.buyer
    assert rejected.deadline_at is not None
    assert closed.to_status is TicketStatus.closed
    assert closed.at - rejected.at >= timedelta(days=7)


async def test_every_recorded_step_sends_its_notifications_once(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(settle_after_polls=1)
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue)
        result = await handle.result()

    assert result.status is TicketStatus.completed
    assert [(b.ticket_no, b.seq) for b in provider.notified] == [
        (handle.id, t.seq) for t in provider.transitions
    ]


async def test_the_step_that_reports_a_settled_refund_books_it_in_the_same_write(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(settle_after_polls=1)
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue)
        result = await handle.result()
        history = await handle.fetch_history()

    assert result.status is TicketStatus.completed and result.refunded_amount == AMOUNT
    completed = provider.transitions[-1]
    assert completed.to_status is TicketStatus.completed
    assert completed.settlement is not None
    assert (completed.settlement.status, completed.settlement.source) == ("succeeded", "poll")
    assert provider.settlements == [completed.settlement]
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert c.SETTLE_REFUND not in scheduled
    assert scheduled.count(c.RECORD_TRANSITION) == 2


@pytest.mark.parametrize(("to_send", "deliveries"), [(0, 0), (2, 2), (None, 2)])
async def test_a_step_starts_a_delivery_only_when_it_has_something_to_send(
    time_env: WorkflowEnvironment, to_send: int | None, deliveries: int
) -> None:
    """Recording a step answers how many of its notifications are still to be sent; an older
    worker's answer (nothing) counts as some."""
    provider = FakeProvider(settle_after_polls=1, to_send=to_send)
    async with worker(time_env, provider) as queue:
        result = await (await start(time_env, queue)).result()

    assert result.status is TicketStatus.completed
    assert len(provider.transitions) == 2
    assert len(provider.notified) == deliveries
