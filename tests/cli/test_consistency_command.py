"""`aftersales consistency`: a planted difference is found (exit 1), then repaired."""

from __future__ import annotations

from datetime import timedelta

from domain.tickets import Actor, TicketStatus
from persistence.models import Ticket
from tests.cli.conftest import Cli
from tests.support.stack import Stack
from tests.support.tickets import open_for_review


async def test_a_row_ahead_of_its_workflow_is_reported_then_repaired(
    stack: Stack, cli: Cli
) -> None:
    planted = await open_for_review(stack)
    clean = await open_for_review(stack)
    # The row of an approval decided by a workflow task Temporal never committed.
    async with stack.sessions.begin() as session:
        ticket = await session.get(Ticket, planted.ticket_no)
        assert ticket is not None and ticket.deadline_at is not None
        ticket.status = TicketStatus.awaiting_buyer_return
        ticket.version += 1
        ticket.next_actor = Actor.buyer
        ticket.deadline_at += timedelta(days=7)

    found = await cli("consistency", planted.ticket_no, clean.ticket_no)
    repaired = await cli("consistency", "--repair", planted.ticket_no)
    again = await cli("consistency", planted.ticket_no, clean.ticket_no)
    async with stack.sessions() as session:
        row = await session.get(Ticket, planted.ticket_no)

    assert found.exit_code == 1, found.output
    assert "checked 2 open ticket(s): 1 difference(s), 1 unrepaired" in found.stdout
    [line] = [text for text in found.stdout.splitlines() if planted.ticket_no in text]
    assert "row_ahead" in line and "NOT repaired" in line
    assert "awaiting_buyer_return" in line and "awaiting_merchant_review" in line
    assert clean.ticket_no not in found.stdout
    assert repaired.exit_code == 0, repaired.output
    assert "1 difference(s), 0 unrepaired" in repaired.stdout
    assert row is not None and row.status == TicketStatus.awaiting_merchant_review
    assert again.exit_code == 0 and "0 difference(s)" in again.stdout
