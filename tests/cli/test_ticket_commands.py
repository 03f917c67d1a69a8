"""`aftersales tickets search | show | overdue | export` on tickets opened through the API."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, insert

from persistence.models import Order, Ticket
from tests.cli.conftest import UI_URL, Cli
from tests.support.orders import application, buyer_id, line, new_order_id, order_body, put_order
from tests.support.stack import Stack
from tests.support.tickets import MERCHANT, act, open_for_review


async def refunded_tickets(stack: Stack, buyer: str, *prices: int) -> list[tuple[str, str]]:
    """One unshipped order per price, each refunded at once: (ticket no, order id) pairs."""
    opened = []
    async with stack.client("platform:shop") as platform, stack.client(buyer) as http:
        for price in prices:
            order_id = new_order_id()
            await put_order(
                platform, order_id, order_body([line("L1", 1, price)], buyer=buyer_id(buyer))
            )
            created = await http.post("/v1/tickets", json=application(order_id, ("L1", 1)))
            assert created.status_code == 201, created.text
            opened.append((created.json()["ticket_no"], order_id))
    for ticket_no, _ in opened:
        await stack.ticket_when(buyer, ticket_no, "completed")
    return opened


async def test_search_finds_a_buyers_tickets_by_each_filter_with_amounts_in_major_units(
    stack: Stack, cli: Cli
) -> None:
    buyer = await stack.new_buyer()
    [(first, first_order), (second, _)] = await refunded_tickets(stack, buyer, 3050, 123456)
    escalated = await open_for_review(stack)
    response = await act(stack, MERCHANT, escalated.ticket_no, "escalate", {"reason": "odd"})
    assert response.status_code == 200, response.text

    everything = await cli("tickets", "search", "--buyer", buyer_id(buyer))
    by_order = await cli("tickets", "search", "--buyer", buyer_id(buyer), "--order", first_order)
    open_ones = await cli("tickets", "search", "--buyer", buyer_id(buyer), "--status", "refunding")
    only_escalated = await cli(
        "tickets", "search", "--buyer", buyer_id(escalated.buyer), "--escalated"
    )
    not_escalated = await cli("tickets", "search", "--buyer", buyer_id(buyer), "--escalated")
    one = await cli("tickets", "search", "--buyer", buyer_id(buyer), "--limit", "1")
    low = await cli("tickets", "search", "--buyer", buyer_id(buyer), "--risk", "low")
    high = await cli("tickets", "search", "--buyer", buyer_id(buyer), "--risk", "high")
    bad_status = await cli("tickets", "search", "--status", "lost")

    assert everything.exit_code == 0, everything.output
    assert "2 ticket(s)" in everything.stdout
    assert first in everything.stdout and second in everything.stdout
    assert "CNY 30.50" in everything.stdout and "CNY 1,234.56" in everything.stdout
    assert "refund_only" in everything.stdout and "completed" in everything.stdout
    assert "m-1001" in everything.stdout
    assert first in by_order.stdout and second not in by_order.stdout
    assert "0 ticket(s)" in open_ones.stdout and first not in open_ones.stdout
    assert escalated.ticket_no in only_escalated.stdout
    assert "under_arbitration" in only_escalated.stdout
    assert "0 ticket(s)" in not_escalated.stdout
    # Newest first: the second ticket was opened last.
    assert second in one.stdout and first not in one.stdout
    assert "2 ticket(s)" in low.stdout and "0 ticket(s)" in high.stdout
    assert bad_status.exit_code == 2


async def test_show_prints_the_ticket_its_refund_timeline_and_temporal_link(
    stack: Stack, cli: Cli
) -> None:
    buyer = await stack.new_buyer()
    [(ticket_no, order_id)] = await refunded_tickets(stack, buyer, 4200)

    shown = await cli("tickets", "show", ticket_no)
    missing = await cli("tickets", "show", "AS19990101-999999")

    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert f"{ticket_no}  refund_only  completed" in out
    assert order_id in out and buyer_id(buyer) in out
    assert "refunds (1)" in out and f"{ticket_no}-R1" in out and "succeeded" in out
    assert "CNY 42.00" in out and "original" in out
    assert "timeline (2)" in out
    assert "submitted -> refunding" in out and "refunding -> completed" in out
    assert f"Temporal UI: {UI_URL}/namespaces/default/workflows/{ticket_no}" in out
    assert missing.exit_code == 1
    assert "ticket_not_found" in missing.stderr and "AS19990101-999999" in missing.stderr


async def test_overdue_names_an_open_ticket_past_its_deadline_and_how_late_it_is(
    stack: Stack, cli: Cli
) -> None:
    late = await open_for_review(stack)
    on_time = await open_for_review(stack)
    # The row says the review deadline passed ten minutes ago while its workflow's timer has
    # not fired: what a ticket looks like while no worker runs.
    async with stack.sessions.begin() as session:
        ticket = await session.get(Ticket, late.ticket_no)
        assert ticket is not None and ticket.deadline_at is not None
        deadline = ticket.deadline_at
        ticket.deadline_at = datetime.now(UTC) - timedelta(minutes=10)
    try:
        found = await cli("tickets", "overdue")
    finally:
        async with stack.sessions.begin() as session:
            ticket = await session.get(Ticket, late.ticket_no)
            assert ticket is not None
            ticket.deadline_at = deadline

    assert found.exit_code == 1, found.output
    [row] = [text for text in found.stdout.splitlines() if late.ticket_no in text]
    assert "awaiting_merchant_review" in row and "merchant" in row
    assert "10m" in row
    assert on_time.ticket_no not in found.stdout
    assert "a worker is down or behind" in found.stdout


async def test_export_writes_exactly_the_selected_tickets_as_csv(
    stack: Stack, cli: Cli, tmp_path: Path
) -> None:
    buyer = await stack.new_buyer()
    opened = await refunded_tickets(stack, buyer, 1000, 2500)
    other = await stack.new_buyer()
    [(elsewhere, _)] = await refunded_tickets(stack, other, 700)
    target = tmp_path / "tickets.csv"

    done = await cli("tickets", "export", str(target), "--buyer", buyer_id(buyer))
    with target.open(newline="") as file:
        rows = list(csv.DictReader(file))
    narrowed = tmp_path / "narrowed.csv"
    none = await cli(
        "tickets", "export", str(narrowed), "--buyer", buyer_id(buyer), "--type", "exchange"
    )

    assert done.exit_code == 0, done.output
    assert "exported 2 ticket(s)" in done.stdout
    assert [row["ticket_no"] for row in rows] == [ticket_no for ticket_no, _ in opened]
    assert elsewhere not in target.read_text()
    assert [(row["currency"], row["granted_amount"], row["refunded_amount"]) for row in rows] == [
        ("CNY", "1000", "1000"),
        ("CNY", "2500", "2500"),
    ]
    assert {row["status"] for row in rows} == {"completed"}
    for row in rows:
        created = datetime.fromisoformat(row["created_at"])
        assert row["created_at"].endswith("Z") and created.utcoffset() == timedelta(0)
        assert row["deadline_at"] == "" and row["escalated"] == "false"
    assert none.exit_code == 0 and narrowed.read_text().count("\n") == 1


async def test_export_streams_more_tickets_than_one_batch_in_order(
    stack: Stack, cli: Cli, tmp_path: Path
) -> None:
    """Closed rows of a merchant of their own (no workflow, nothing to check), removed after."""
    merchant = f"m-export-{new_order_id()}"
    order_id = new_order_id()
    numbers = [f"ASX{order_id[-8:]}-{n:06d}" for n in range(2500)]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    async with stack.sessions.begin() as session:
        await session.execute(
            insert(Order).values(
                order_id=order_id,
                buyer_id="b-export",
                merchant_id=merchant,
                currency="JPY",
                shipping_fee=0,
                payment={
                    "provider": "sandbox",
                    "reference": "p",
                    "method": "card",
                    "paid_total": 9,
                },
                status="paid",
                version=1,
            )
        )
        await session.execute(
            insert(Ticket),
            [
                {
                    "ticket_no": number,
                    "order_id": order_id,
                    "buyer_id": "b-export",
                    "merchant_id": merchant,
                    "type": "refund_only",
                    "reason_code": "no_longer_needed",
                    "evidence": [],
                    "destination": "original",
                    "currency": "JPY",
                    "quoted_amount": n,
                    "refunded_amount": 0,
                    "status": "closed",
                    "policy": {},
                    "created_by_role": "buyer",
                    "risk_reasons": [],
                    "created_at": start + timedelta(seconds=n),
                }
                for n, number in enumerate(numbers)
            ],
        )
    target = tmp_path / "many.csv"
    try:
        done = await cli("tickets", "export", str(target), "--merchant", merchant)
    finally:
        async with stack.sessions.begin() as session:
            await session.execute(delete(Ticket).where(Ticket.merchant_id == merchant))
            await session.execute(delete(Order).where(Order.order_id == order_id))

    assert done.exit_code == 0, done.output
    with target.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["ticket_no"] for row in rows] == numbers
    assert rows[1234]["quoted_amount"] == "1234" and rows[1234]["currency"] == "JPY"
    assert rows[0]["created_at"] == "2026-01-01T00:00:00Z"
