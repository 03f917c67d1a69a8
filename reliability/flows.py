"""The tickets a scenario drives: fresh orders upserted by the platform, tickets opened by their
buyer, approvals by their merchant; every call through `traffic.call`, so a fault only delays."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass
from typing import Any

from reliability.harness import Stack
from reliability.traffic import Answers, call
from tests.simulation.world import SimOrder
from tests.support.orders import line, order_body
from tests.support.tickets import recently

BUYER, MERCHANT, PLATFORM = "buyer:b-501", "merchant:m-1001", "platform:shop"


@dataclass
class Flow:
    """One ticket: its order, and the status its events and deadlines imply at the end."""

    order: SimOrder
    ticket_no: str = ""
    # The statuses its events allow at the end: a review deadline approves, or escalates to
    # support when the buyer's risk forbids approval without a person (SPEC §3).
    expect: tuple[str, ...] = ("completed",)
    needs_review: bool = False  # shipped: the merchant (or its deadline) approves
    deadline_due: bool = False  # left to its review deadline, which must fire
    tracking_no: str = ""  # a return's parcel


def new_order(rng: random.Random, *, shipped: bool) -> tuple[SimOrder, dict[str, Any]]:
    order_id = f"R-{uuid.UUID(int=rng.getrandbits(128)).hex[:12].upper()}"
    price = rng.randrange(1000, 50000, 100)
    qty = rng.randint(1, 3)
    body = order_body(
        [line("L1", qty, price)],
        status="delivered" if shipped else "paid",
        shipping=rng.choice((0, 800)),
        method=rng.choice(("wallet", "card")),
        delivered_at=recently() if shipped else None,
    )
    payment = body["payment"]
    order = SimOrder(
        order_id=order_id,
        buyer=BUYER,
        reference=payment["reference"],
        paid_total=payment["paid_total"],
        lines={"L1": qty},
        shipped=shipped,
    )
    return order, body


async def open_flows(
    stack: Stack, answers: Answers, rng: random.Random, count: int, shipped_share: float
) -> list[Flow]:
    """`count` tickets, about `shipped_share` of them on shipped orders (merchant review)."""
    flows = await new_orders(stack, answers, rng, count, shipped_share)
    await open_tickets(stack, answers, flows)
    return flows


async def new_orders(
    stack: Stack, answers: Answers, rng: random.Random, count: int, shipped_share: float
) -> list[Flow]:
    """`count` fresh orders upserted by the platform, one flow each, no ticket yet."""
    flows = []
    async with stack.client(PLATFORM) as platform:
        for _ in range(count):
            shipped = rng.random() < shipped_share
            order, body = new_order(rng, shipped=shipped)
            await call(answers, platform, "PUT", f"/v1/orders/{order.order_id}", body)
            flows.append(Flow(order=order, needs_review=shipped))
    return flows


async def open_tickets(stack: Stack, answers: Answers, flows: list[Flow]) -> None:
    """Every flow's ticket, all at once."""
    async with stack.client(BUYER) as buyer:
        await asyncio.gather(*(open_ticket(answers, buyer, flow) for flow in flows))


async def open_ticket(
    answers: Answers, buyer: Any, flow: Flow, ticket_type: str = "refund_only"
) -> None:
    lines = [{"line_id": "L1", "quantity": flow.order.lines["L1"]}]
    application = {
        "order_id": flow.order.order_id,
        "type": ticket_type,
        "lines": lines,
        "reason_code": "no_longer_needed",
        "description": "fault suite",
    }
    created = await call(answers, buyer, "POST", "/v1/tickets", application)
    assert created.status_code in (200, 201), created.text
    flow.ticket_no = created.json()["ticket_no"]


async def status_of(stack: Stack, answers: Answers, ticket_no: str) -> dict[str, Any]:
    async with stack.client(BUYER) as buyer:
        answer = await call(answers, buyer, "GET", f"/v1/tickets/{ticket_no}")
    ticket: dict[str, Any] = answer.json()
    return ticket


async def when_status(
    stack: Stack, answers: Answers, ticket_no: str, status: str, bound: float = 120.0
) -> dict[str, Any]:
    async with asyncio.timeout(bound):
        while True:
            ticket = await status_of(stack, answers, ticket_no)
            if ticket["status"] == status:
                return ticket
            await asyncio.sleep(0.3)


async def approve(stack: Stack, answers: Answers, flow: Flow) -> int:
    """The merchant approves; the final status code (409 when a deadline acted first). A 409
    while the ticket still waits for review is counted (`answers.anomalies`) and retried: the
    workflow may not yet take the action the row already offers."""
    async with stack.client(MERCHANT, timeout=30) as merchant:
        async with asyncio.timeout(60):
            while True:
                url = f"/v1/tickets/{flow.ticket_no}/approve"
                answer = await call(answers, merchant, "POST", url, {})
                assert answer.status_code in (200, 409), answer.text
                if answer.status_code == 200:
                    return 200
                ticket = await status_of(stack, answers, flow.ticket_no)
                if ticket["status"] != "awaiting_merchant_review":
                    # Its review deadline acted first: approved, or escalated to support.
                    flow.expect = ("completed", "under_arbitration")
                    return 409
                code = answer.json().get("code")
                answers.anomalies.append(
                    f"{flow.ticket_no}: approve answered 409 {code} while awaiting_merchant_review"
                )
                await asyncio.sleep(1.0)


async def reviewed(stack: Stack, answers: Answers, flows: list[Flow]) -> None:
    """Every shipped ticket approved by its merchant once it waits for review."""

    async def one(flow: Flow) -> None:
        await when_status(stack, answers, flow.ticket_no, "awaiting_merchant_review")
        await approve(stack, answers, flow)

    await asyncio.gather(*(one(flow) for flow in flows if flow.needs_review))


async def traffic(
    stack: Stack, rng: random.Random, answers: Answers, count: int, shipped_share: float
) -> list[Flow]:
    """`count` tickets opened at once, the shipped ones approved: refunds and approvals in
    flight."""
    flows = await open_flows(stack, answers, rng, count, shipped_share)
    await reviewed(stack, answers, flows)
    return flows
