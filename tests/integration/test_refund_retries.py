"""Every refund activity retried as Temporal retries it after a crash: the same call again, with
the same input. Run in Temporal's activity environment against the real PostgreSQL and the real
sandbox provider (refunds and payouts), each call happens twice and each side effect once."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment

import contracts as c
from activities.refund_execution import RefundExecutionActivities
from activities.refunds import RefundActivities
from adapters.payments.sandbox import SandboxPaymentGateway
from adapters.payouts.sandbox import SandboxPayoutGateway
from adapters.rates.sandbox import SandboxRates
from domain.orders import OrderSnapshot
from domain.tickets import refund_idempotency_key
from persistence.models import BalanceEntry, Coupon, Refund
from persistence.orders import upsert_order
from settings import Settings
from tests.support.orders import line, order_body, refund_only_ticket
from tests.support.stack import SANDBOX_KEY, Stack

ACCOUNT = {"holder_name": "Anna Schmidt", "iban": "DE89370400440532013000"}


async def _ticket(
    sessions: async_sessionmaker[AsyncSession], destination: str, details: Any = None
) -> tuple[str, str]:
    """A paid order of 2 x 15.00 CNY with a refund-only ticket on both units."""
    order_id = f"RR-{uuid.uuid4().hex[:10].upper()}"
    body = order_body([line("L1", 2, 1500)], buyer=f"b-{uuid.uuid4().hex[:8]}")
    snapshot = OrderSnapshot.model_validate({"order_id": order_id, **body})
    ticket_no = f"{order_id}-T1"
    async with sessions.begin() as session:
        await upsert_order(session, snapshot)
        session.add(
            refund_only_ticket(
                snapshot,
                ticket_no,
                "L1",
                2,
                quoted_amount=3000,
                status="refunding",
                destination=destination,
                destination_details=details,
            )
        )
    return ticket_no, str(body["payment"]["reference"])


def _activities(stack: Stack) -> tuple[RefundActivities, RefundExecutionActivities]:
    settings: Settings = stack.settings
    url = settings.payment_sandbox.url
    grants = RefundActivities(stack.sessions, SandboxRates(), "sandbox-payouts")
    execution = RefundExecutionActivities(
        stack.sessions,
        {"sandbox": SandboxPaymentGateway(url, SANDBOX_KEY)},
        SandboxPayoutGateway(url, SANDBOX_KEY),
        settings.money.coupon_validity,
    )
    return grants, execution


async def _twice(stack: Stack, ticket_no: str) -> tuple[list[c.Grant], list[c.RefundState], Refund]:
    grants, execution = _activities(stack)
    env = ActivityEnvironment()
    key = refund_idempotency_key(ticket_no, 1)
    request = c.GrantRequest(ticket_no=ticket_no, refund_seq=1, idempotency_key=key)
    granted = [await env.run(grants.grant_refund, request) for _ in range(2)]
    run = c.RefundExecution(ticket_no=ticket_no, idempotency_key=key)
    sent = [await env.run(execution.execute_refund, run) for _ in range(2)]
    async with stack.sessions() as session:
        rows = (await session.scalars(select(Refund).where(Refund.ticket_no == ticket_no))).all()
    assert len(rows) == 1
    return granted, sent, rows[0]


async def test_a_grant_and_a_provider_refund_retried_happen_once(stack: Stack) -> None:
    ticket_no, reference = await _ticket(stack.sessions, "original")

    granted, sent, row = await _twice(stack, ticket_no)
    async with stack.sandbox() as sandbox:
        at_provider = await sandbox.get("/v1/refunds", params={"payment_reference": reference})

    assert granted[0] == granted[1] and granted[0].amount == 3000
    assert sent[0].provider_refund_id == sent[1].provider_refund_id == row.provider_refund_id
    assert [r["id"] for r in at_provider.json()["data"]] == [row.provider_refund_id]


async def test_a_payout_retried_is_paid_once(stack: Stack) -> None:
    ticket_no, _ = await _ticket(stack.sessions, "bank_transfer", ACCOUNT)

    _, sent, row = await _twice(stack, ticket_no)
    async with stack.sandbox() as sandbox:
        payout = (await sandbox.get(f"/v1/payouts/{row.provider_refund_id}")).json()

    assert sent[0].provider_refund_id == sent[1].provider_refund_id == row.provider_refund_id
    assert payout["idempotency_key"] == row.idempotency_key and payout["amount"] == 3000


async def test_a_balance_credit_and_a_coupon_retried_are_written_once(stack: Stack) -> None:
    credited, _ = await _ticket(stack.sessions, "balance")
    couponed, _ = await _ticket(stack.sessions, "coupon")

    _, credit_sent, credit_row = await _twice(stack, credited)
    _, coupon_sent, coupon_row = await _twice(stack, couponed)
    # A retry after the credit was written but before the status reached the workflow: the row
    # reads `granted` again, as if the credit's transaction had committed and nothing else.
    async with stack.sessions.begin() as session:
        for row in (credit_row, coupon_row):
            again = await session.get(Refund, row.refund_id)
            assert again is not None
            again.status = "granted"
    _, execution = _activities(stack)
    for ticket_no in (credited, couponed):
        run = c.RefundExecution(
            ticket_no=ticket_no, idempotency_key=refund_idempotency_key(ticket_no, 1)
        )
        await ActivityEnvironment().run(execution.execute_refund, run)
    async with stack.sessions() as session:
        entries = await session.scalar(
            select(func.count()).where(BalanceEntry.refund_id == credit_row.refund_id)
        )
        coupons = await session.scalar(
            select(func.count()).where(Coupon.refund_id == coupon_row.refund_id)
        )

    assert [s.status for s in credit_sent + coupon_sent] == ["succeeded"] * 4
    assert credit_sent[0].provider_refund_id == credit_sent[1].provider_refund_id
    assert coupon_sent[0].provider_refund_id == coupon_sent[1].provider_refund_id
    assert entries == 1 and coupons == 1
