"""`python -m bench.what_if`: a what-if over a merchant's past tickets, timed from the request to
its last page stored.

The tickets are written straight to PostgreSQL, as tickets that ran would have left them: the
row with its opening facts and policy, its line, the review step with the buyer's risk, and for
most an approval and a succeeded refund (a what-if reads nothing else). Then the merchant's
proposed rules go to `POST /v1/merchants/{id}/rules/what-if` and its run is read with `GET` until
its status is `completed`: the Temporal workflow counting the period and re-deciding it page by
page, on the stack's worker.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from api.auth import Role, issue_key
from domain.rules import LineFacts, TicketFacts
from domain.tickets import TicketStatus
from persistence.models import (
    Merchant,
    Order,
    Refund,
    Ticket,
    TicketLine,
    TimelineEntry,
)
from reliability.harness import Stack

PROPOSED = [
    {
        "id": "keep-cheap",
        "when": "quoted_amount <= 5000 && fault == 'buyer'",
        "then": {"approve": True, "keep_item": True},
    },
    {
        "id": "card-review",
        "when": "payment_method == 'card' && quoted_amount > 20000",
        "then": {"manual_review": True},
    },
    {
        "id": "credit",
        "when": "lines.exists(l, 'clearance' in l.tags) && days_since_delivery <= 7",
        "then": {"approve": True, "store_credit_bonus_percent": 10, "service_fee_percent": 5},
    },
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--what-if-tickets", type=int, default=1000, help="past tickets a what-if re-decides"
    )


def _facts(n: int, amount: int) -> TicketFacts:
    reason = ("no_longer_needed", "wrong_size_or_model", "quality_issue")[n % 3]
    fault = "merchant" if reason == "quality_issue" else "buyer"
    tags = ["clearance"] if n % 4 == 0 else []
    return TicketFacts(
        type="return_refund" if n % 5 else "refund_only",
        reason=reason,
        fault=fault,
        requested_amount=amount,
        quoted_amount=amount,
        currency="CNY",
        lines=[
            LineFacts(
                line_id="L1",
                sku=f"SKU-{n % 50}",
                tags=tags,
                quantity=1,
                amount=amount,
                reason=reason,
            )
        ],
        skus=[f"SKU-{n % 50}"],
        tags=tags,
        order_age_days=5 + n % 10,
        shipped=True,
        delivered=True,
        days_since_delivery=n % 12,
        channel=("app", "web", "mini_program")[n % 3],
        payment_method=("wallet", "card")[n % 2],
        opened_by="buyer",
        evidence_count=n % 3,
    )


def _rows(merchant: str, n: int, opened: datetime) -> list[Any]:
    order_id, ticket_no = f"WI-{uuid.uuid4().hex[:12]}", f"WI{uuid.uuid4().hex[:14].upper()}"
    amount = 1000 + (n * 731) % 40000
    facts = _facts(n, amount)
    done = n % 3 != 0
    rows: list[Any] = [
        Order(
            order_id=order_id,
            buyer_id=f"b-wi{n % 200}",
            merchant_id=merchant,
            currency="CNY",
            shipping_fee=0,
            payment={
                "provider": "sandbox",
                "reference": order_id,
                "method": facts.payment_method,
                "paid_total": amount,
            },
            status="delivered",
            version=1,
            after_sales_status="none",
            refunded_total=0,
            lines=[],
        ),
        Ticket(
            ticket_no=ticket_no,
            order_id=order_id,
            buyer_id=f"b-wi{n % 200}",
            merchant_id=merchant,
            type=facts.type,
            reason_code=facts.reason,
            currency="CNY",
            quoted_amount=amount,
            refunded_amount=amount if done else 0,
            status=TicketStatus.completed if done else TicketStatus.awaiting_merchant_review,
            policy={"version": "bench", "second_approval_threshold": 500_000},
            created_by_role="buyer",
            channel=facts.channel,
            facts=facts.model_dump(
                mode="json", exclude={"risk_level", "risk_reasons", "refunds_90d", "watchlisted"}
            ),
            created_at=opened,
            risk_level="low",
            lines=[TicketLine(order_id=order_id, line_id="L1", quantity=1)],
        ),
        TimelineEntry(
            ticket_no=ticket_no,
            seq=1,
            at=opened,
            actor_role="system",
            event="submitted_for_review",
            from_status="submitted",
            to_status="awaiting_merchant_review",
            reason="waiting for the merchant's review",
            data={
                "risk": {
                    "level": "low",
                    "reasons": [],
                    "watchlisted": False,
                    "refunded_tickets": n % 2,
                }
            },
        ),
    ]
    if done:
        at = opened + timedelta(hours=5)
        rows += [
            TimelineEntry(
                ticket_no=ticket_no,
                seq=2,
                at=at,
                actor_role="merchant",
                event="approved_by_merchant",
                from_status="awaiting_merchant_review",
                to_status="refunding",
                reason="the merchant approved",
                data={},
            ),
            Refund(
                ticket_no=ticket_no,
                order_id=order_id,
                seq=1,
                idempotency_key=f"{ticket_no}-R1",
                currency="CNY",
                amount=amount,
                line_quantities={"L1": 1},
                line_amounts={"L1": amount},
                breakdown={},
                destination="original",
                status="succeeded",
                status_history=[{"status": "succeeded", "at": at.isoformat(), "source": "bench"}],
            ),
        ]
    return rows


async def _seed(stack: Stack, tickets: int, now: datetime) -> str:
    merchant = f"m-wi{uuid.uuid4().hex[:8]}"
    async with stack.sessions.begin() as session:
        session.add(Merchant(merchant_id=merchant, name="What-if bench shop"))
        await session.flush()
        stack.keys[f"merchant:{merchant}"] = await issue_key(
            session, Role.merchant, merchant, "what-if bench"
        )
    for start in range(0, tickets, 250):
        async with stack.sessions.begin() as session:
            for n in range(start, min(tickets, start + 250)):
                opened = now - timedelta(days=30) + timedelta(seconds=n * 2_000 * 30 // tickets)
                for row in _rows(merchant, n, opened):
                    session.add(row)
                    if isinstance(row, Order | Ticket):
                        await session.flush()
    return merchant


async def run(stack: Stack, tickets: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    merchant = await _seed(stack, tickets, now)
    async with stack.client(f"merchant:{merchant}", timeout=60) as shop:
        started = time.monotonic()
        answer = await shop.post(
            f"/v1/merchants/{merchant}/rules/what-if",
            json={"rules": PROPOSED, "period_from": (now - timedelta(days=31)).isoformat()},
        )
        answer.raise_for_status()
        run_id = answer.json()["run_id"]
        while True:
            view = (await shop.get(f"/v1/merchants/{merchant}/rules/what-if/{run_id}")).json()
            if view["status"] == "completed":
                break
            await asyncio.sleep(0.1)
        seconds = time.monotonic() - started
    return {"tickets": tickets, "seconds": seconds, "view": view}


async def measure(args: argparse.Namespace, stack: Stack) -> list[str]:
    measured = await run(stack, args.what_if_tickets)
    view, seconds = measured["view"], measured["seconds"]
    totals = view["totals"]
    predicted, happened = totals["predicted"], totals["happened"]
    return [
        "## A what-if over a merchant's past tickets",
        "",
        f"{measured['tickets']} past tickets of one merchant (stored as tickets that ran leave "
        "them), re-decided under three proposed rules by `POST …/rules/what-if`: the Temporal "
        "workflow counts the period and re-decides it 250 tickets a page on the stack's "
        "worker; timed from the request to the run read back `completed`. One round.",
        "",
        "| tickets | seconds | tickets/s | changed | approved automatically (predicted / "
        "happened) | to review (predicted / happened) | kept items (predicted) |",
        "|---|---|---|---|---|---|---|",
        f"| {view['total']} | {seconds:.1f} | {view['total'] / seconds:.0f} | "
        f"{totals['changed']} | {predicted['auto_approved']} / {happened['auto_approved']} | "
        f"{predicted['reviewed']} / {happened['reviewed']} | {predicted['kept_items']} |",
        "",
    ]


if __name__ == "__main__":
    from bench.__main__ import run_alone

    run_alone(sys.modules[__name__])
