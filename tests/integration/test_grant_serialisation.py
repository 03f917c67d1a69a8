"""Grants of tickets on one order run at the same moment against the real PostgreSQL: the row lock
on the order serialises them, so together they grant exactly what was paid (SPEC §4)."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities import contracts as c
from activities.refunds import RefundActivities
from adapters.rates.sandbox import SandboxRates
from domain.orders import OrderSnapshot
from domain.tickets import refund_idempotency_key
from persistence.models import Ticket, TicketLine
from persistence.orders import upsert_order
from tests.support.orders import line, order_body

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
            session.add(
                Ticket(
                    ticket_no=ticket_no,
                    order_id=order_id,
                    buyer_id=snapshot.buyer_id,
                    merchant_id=snapshot.merchant_id,
                    type="refund_only",
                    reason_code="no_longer_needed",
                    currency="CNY",
                    quoted_amount=0,
                    status="submitted",
                    policy={
                        "refund_shipping_on_merchant_fault": True,
                        "second_approval_threshold": 10**9,
                    },
                    created_by_role="buyer",
                    lines=[TicketLine(order_id=order_id, line_id=f"L{i}", quantity=2)],
                )
            )
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
