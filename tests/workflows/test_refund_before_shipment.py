"""The refund-before-shipment flow on the time-skipping test server, activities faked by name."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities import contracts as c
from domain.tickets import Actor, TicketStatus, TicketType
from workflows.ticket import TicketWorkflow

AMOUNT = 30500


@dataclass
class FakeProvider:
    """Stands in for the database and the payment provider under the activities' real names."""

    settle_after_polls: int | None = None
    needs_second_approval: bool = False
    final_status: str = "succeeded"
    refuse: bool = False
    transitions: list[c.Transition] = field(default_factory=list)
    polls: int = 0
    executions: int = 0
    settlements: list[c.Settlement] = field(default_factory=list)

    def activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name=c.RECORD_TRANSITION)
        async def record_transition(transition: c.Transition) -> None:
            self.transitions.append(transition)

        @activity.defn(name=c.GRANT_REFUND)
        async def grant_refund(request: c.GrantRequest) -> c.Grant:
            return c.Grant(
                ticket_no=request.ticket_no,
                refund_seq=request.refund_seq,
                idempotency_key=request.idempotency_key,
                currency="CNY",
                amount=AMOUNT,
                shipping_amount=1000,
                needs_second_approval=self.needs_second_approval,
                notes=["refund includes shipping: this ticket completes the unshipped order"],
                breakdown={"total": AMOUNT},
            )

        @activity.defn(name=c.EXECUTE_REFUND)
        async def execute_refund(execution: c.RefundExecution) -> c.RefundState:
            self.executions += 1
            return c.RefundState(
                idempotency_key=execution.idempotency_key,
                provider="sandbox",
                provider_refund_id=None if self.refuse else "re_1",
                status="failed" if self.refuse else "pending",
                failure_reason="payment_too_old: older than 180 days" if self.refuse else None,
            )

        @activity.defn(name=c.CHECK_REFUND)
        async def check_refund(execution: c.RefundExecution) -> c.RefundState:
            self.polls += 1
            done = self.settle_after_polls is not None and self.polls >= self.settle_after_polls
            return c.RefundState(
                idempotency_key=execution.idempotency_key,
                provider="sandbox",
                provider_refund_id="re_1",
                status=self.final_status if done else "pending",
            )

        @activity.defn(name=c.SETTLE_REFUND)
        async def settle_refund(settlement: c.Settlement) -> None:
            self.settlements.append(settlement)

        @activity.defn(name=c.VOID_GRANT)
        async def void_grant(voiding: c.Settlement) -> None:
            self.settlements.append(voiding)

        return [
            record_transition,
            grant_refund,
            execute_refund,
            check_refund,
            settle_refund,
            void_grant,
        ]


def ticket_input(ticket_no: str) -> c.TicketInput:
    return c.TicketInput(
        ticket_no=ticket_no,
        order_id="O-1",
        buyer_id="b-1",
        merchant_id="m-1",
        type=TicketType.refund_only,
        order_shipped=False,
        currency="CNY",
        quoted_amount=AMOUNT,
        reason_code="no_longer_needed",
        lines={"L1": 2},
        policy=c.TicketPolicy(
            version="test",
            merchant_review=timedelta(hours=48),
            buyer_after_rejection=timedelta(days=7),
            refund_settlement=timedelta(days=7),
            refund_status_poll=timedelta(hours=1),
            second_approval_threshold=500000,
        ),
        opened_by=Actor.buyer,
        opened_at=datetime.now(UTC),
    )


@asynccontextmanager
async def worker(env: WorkflowEnvironment, provider: FakeProvider) -> AsyncIterator[str]:
    """A worker on a task queue of its own; yields the queue's name."""
    queue = f"wf-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client, task_queue=queue, workflows=[TicketWorkflow], activities=provider.activities()
    ):
        yield queue


async def start(
    env: WorkflowEnvironment, queue: str
) -> WorkflowHandle[TicketWorkflow, c.TicketResult]:
    ticket_no = f"AS20261123-{uuid.uuid4().int % 1_000_000:06d}"
    return await env.client.start_workflow(
        TicketWorkflow.run, ticket_input(ticket_no), id=ticket_no, task_queue=queue
    )


def statuses(provider: FakeProvider) -> list[TicketStatus]:
    return [t.to_status for t in provider.transitions]


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


async def test_a_refund_the_provider_fails_leaves_the_ticket_to_support(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(settle_after_polls=1, final_status="failed")
    async with worker(time_env, provider) as queue:
        result = await (await start(time_env, queue)).result()

    assert result.status is TicketStatus.refund_failed
    assert result.refunded_amount == 0
    assert provider.transitions[-1].next_actor is Actor.support
    assert [s.status for s in provider.settlements] == ["failed"]


async def test_a_refund_the_provider_refuses_outright_is_never_polled(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(refuse=True)
    async with worker(time_env, provider) as queue:
        result = await (await start(time_env, queue)).result()

    assert result.status is TicketStatus.refund_failed
    assert provider.polls == 0
    assert "payment_too_old" in provider.transitions[-1].reason


async def until_status(
    env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any], status: TicketStatus
) -> None:
    while (await handle.query(TicketWorkflow.state))["status"] != status:
        await env.sleep(timedelta(seconds=1))


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
