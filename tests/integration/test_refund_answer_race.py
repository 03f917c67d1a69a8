"""The provider's answer to a refund is written in one statement while the refund is as it was
before the call; when something else wrote the refund during the call (its settlement booked
first, say), the answer is written on the row as it is then and never undoes a final status."""

from __future__ import annotations

from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

import contracts as c
from activities.refund_execution import RefundExecutionActivities
from activities.refunds import book_refund
from adapters.payments.port import ProviderRefund, RefundCommand
from adapters.payments.sandbox import SandboxPaymentGateway
from domain.tickets import RefundStatus, refund_idempotency_key
from persistence.models import Refund
from tests.integration.test_refund_retries import _activities, _ticket
from tests.support.stack import SANDBOX_KEY, Stack


class SettledDuringTheCall:
    """The sandbox provider, whose refund is booked as succeeded by another writer while the
    call is on its way back, as a webhook's settlement could be."""

    name = "sandbox"

    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        self._sandbox = SandboxPaymentGateway(stack.settings.payment_sandbox.url, SANDBOX_KEY)

    async def create_refund(self, command: RefundCommand) -> ProviderRefund:
        answer = await self._sandbox.create_refund(command)
        settled = c.Settlement(
            ticket_no=str(command.metadata["ticket_no"]),
            idempotency_key=command.idempotency_key,
            status=RefundStatus.succeeded,
            source="webhook",
        )
        async with self._stack.sessions.begin() as session:
            await book_refund(session, settled, RefundStatus.succeeded)
        return answer.model_copy(update={"status": RefundStatus.pending})

    async def get_refund(self, provider_refund_id: str) -> ProviderRefund:
        return await self._sandbox.get_refund(provider_refund_id)


async def _stored(stack: Stack, key: str) -> Refund:
    async with stack.sessions() as session:
        return (await session.scalars(select(Refund).where(Refund.idempotency_key == key))).one()


async def test_an_answer_on_an_untouched_refund_is_written_with_its_history(stack: Stack) -> None:
    ticket_no, _ = await _ticket(stack.sessions, "original")
    grants, execution = _activities(stack)
    key = refund_idempotency_key(ticket_no, 1)
    env = ActivityEnvironment()
    await env.run(
        grants.grant_refund,
        c.GrantRequest(ticket_no=ticket_no, refund_seq=1, idempotency_key=key),
    )
    state = await env.run(
        execution.execute_refund, c.RefundExecution(ticket_no=ticket_no, idempotency_key=key)
    )

    refund = await _stored(stack, key)
    assert state.status == refund.status
    assert state.provider_refund_id is not None
    assert state.provider_refund_id == refund.provider_refund_id
    assert [entry["status"] for entry in refund.status_history] == ["granted", state.status]
    assert refund.status_history[-1]["source"] == "execute"


async def test_an_answer_after_the_refund_settled_meanwhile_keeps_the_settlement(
    stack: Stack,
) -> None:
    ticket_no, _ = await _ticket(stack.sessions, "original")
    grants, _ = _activities(stack)
    execution = RefundExecutionActivities(
        stack.sessions,
        {"sandbox": SettledDuringTheCall(stack)},
        None,
        stack.settings.money.coupon_validity,
    )
    key = refund_idempotency_key(ticket_no, 1)
    env = ActivityEnvironment()
    await env.run(
        grants.grant_refund,
        c.GrantRequest(ticket_no=ticket_no, refund_seq=1, idempotency_key=key),
    )
    state = await env.run(
        execution.execute_refund, c.RefundExecution(ticket_no=ticket_no, idempotency_key=key)
    )

    refund = await _stored(stack, key)
    assert state.status is RefundStatus.succeeded
    assert refund.status == RefundStatus.succeeded
    # The provider's id is kept; the late "pending" is not written over the settlement.
    assert refund.provider_refund_id is not None
    assert state.provider_refund_id == refund.provider_refund_id
    assert [(e["status"], e["source"]) for e in refund.status_history] == [
        ("granted", "grant"),
        ("succeeded", "webhook"),
    ]
