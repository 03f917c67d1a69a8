"""Grants of tickets on one order run at the same moment against the real PostgreSQL: the row lock
on the order serialises them, so together they grant exactly what was paid (SPEC §4)."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import contracts as c
from activities.refunds import RefundActivities
from adapters.rates.sandbox import SandboxRates
from domain.orders import OrderSnapshot
from domain.tickets import refund_idempotency_key
from persistence.orders import upsert_order
from tests.support.orders import line, order_body, refund_only_ticket

LINES = 8


async def _order_with_a_ticket_per_line(
    sessions: async_sessionmaker[AsyncSession],
) -> tuple[int, list[str]]:
    order_id = f"GS-{uuid.uuid4().hex[:10].upper()}"
    body = order_body([line(f"L{i}", 2, 1999 + 7 * i, 13 * i) for i in range(LINES)], shipping=1234)
    snapshot = OrderSnapshot.model_validate({"order_id": order_id, **body})
    tickets = [f"{order_id}-T{i}" for i in range(LINES)]
    async with sessions.begin() as session:
        await upsert_order(session, snapshot)
        for i, ticket_no in enumerate(tickets):
            session.add(refund_only_ticket(snapshot, ticket_no, f"L{i}", 2))
    return snapshot.payment.paid_total, tickets


async def test_simultaneous_grants_on_one_order_add_up_to_exactly_what_was_paid(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    paid, tickets = await _order_with_a_ticket_per_line(sessions)
    refunds = RefundActivities(sessions, SandboxRates(), "sandbox-payouts")

    grants = await asyncio.gather(
        *(
            refunds.grant_refund(
                c.GrantRequest(
                    ticket_no=ticket_no,
                    refund_seq=1,
                    idempotency_key=refund_idempotency_key(ticket_no, 1),
                )
            )
            for ticket_no in tickets
        )
    )

    assert sum(g.amount for g in grants) == paid
    assert [g.shipping_amount for g in grants].count(1234) == 1
    assert all(g.amount > 0 for g in grants)
