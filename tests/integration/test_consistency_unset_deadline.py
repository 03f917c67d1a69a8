"""The consistency check on the time-skipping test server, which lists a search attribute that a
workflow unset (`DeadlineAt` once a ticket waits on no deadline) as a null value: the client's
`describe()` cannot decode it (TypeError), and the check still says why the row lags."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import contracts as c
from activities.consistency import FAILING_ATTEMPTS, ConsistencyActivities
from domain.tickets import Actor, TicketStatus
from persistence.models import Order, Ticket
from tests.workflows.fakes import FakeProvider, new_ticket_no, ticket_input
from workflows.ticket import TicketWorkflow

K = c.DifferenceKind


async def _stored(sessions: async_sessionmaker[AsyncSession], ticket: c.TicketInput) -> None:
    """The ticket's row as the API's creation stores it, and its order."""
    async with sessions.begin() as session:
        session.add(
            Order(
                order_id=ticket.order_id,
                buyer_id=ticket.buyer_id,
                merchant_id=ticket.merchant_id,
                currency=ticket.currency,
                shipping_fee=0,
                payment={"provider": "sandbox", "method": "wallet"},
                status="paid",
                version=1,
            )
        )
        session.add(
            Ticket(
                ticket_no=ticket.ticket_no,
                order_id=ticket.order_id,
                buyer_id=ticket.buyer_id,
                merchant_id=ticket.merchant_id,
                type=ticket.type,
                reason_code=ticket.reason_code,
                currency=ticket.currency,
                quoted_amount=ticket.quoted_amount,
                status=TicketStatus.submitted,
                next_actor=Actor.system,
                policy=ticket.policy.model_dump(mode="json"),
                version=0,
                created_by_role=ticket.opened_by,
            )
        )


async def test_a_step_retrying_after_the_deadline_was_unset_is_reported_on_the_test_server(
    time_env: WorkflowEnvironment, sessions: async_sessionmaker[AsyncSession]
) -> None:
    ticket = ticket_input(new_ticket_no(), order_id=f"U-{uuid.uuid4().hex[:10].upper()}")
    await _stored(sessions, ticket)
    # The provider refuses the refund: the ticket moves to `refund_failed`, which has no
    # deadline, and the write of that step keeps failing.
    provider = FakeProvider(refuse=True)

    @activity.defn(name=c.RECORD_TRANSITION)
    async def record_transition(transition: c.Transition) -> None:
        if transition.to_status == TicketStatus.refund_failed:
            raise RuntimeError("the database refuses the write")

    others = [a for a in provider.activities() if a.__name__ != "record_transition"]
    queue = f"unset-{uuid.uuid4().hex[:8]}"
    check = ConsistencyActivities(sessions, time_env.client)
    async with Worker(
        time_env.client,
        task_queue=queue,
        workflows=[TicketWorkflow],
        activities=[*others, record_transition],
    ):
        handle = await time_env.client.start_workflow(
            TicketWorkflow.run, ticket, id=ticket.ticket_no, task_queue=queue
        )
        try:
            async with asyncio.timeout(60):
                while True:
                    report = await check.check(c.ConsistencyRequest(ticket_nos=[ticket.ticket_no]))
                    kinds = [d.kind for d in report.differences]
                    if K.step_retrying in kinds:
                        break
                    await asyncio.sleep(0.2)
            state = c.TicketSnapshot.model_validate(
                await handle.query(TicketWorkflow.state, rpc_timeout=timedelta(seconds=10))
            )
        finally:
            await handle.terminate("the test is over")

    assert state.status is TicketStatus.refund_failed and state.deadline_at is None
    assert kinds == [K.row_behind, K.step_retrying]
    [retrying] = [d for d in report.differences if d.kind is K.step_retrying]
    assert retrying.detail.startswith("record_transition attempt ")
    assert int(retrying.detail.split()[2].rstrip(":")) >= FAILING_ATTEMPTS
    assert retrying.detail.endswith("the database refuses the write")
    async with sessions.begin() as session:
        stored = await session.get(Ticket, ticket.ticket_no)
        assert stored is not None
        stored.status = TicketStatus.closed
