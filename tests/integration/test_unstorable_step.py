"""A step whose text the database refuses is recorded for support at once, not retried for ever.

The API refuses such text at the edge; this is what a client talking to Temporal directly, or a
value no edge check foresaw, meets. Before, the `record_transition` write failed on every retry:
the Update never answered and the row kept its old state and a dead deadline for good."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

import contracts as c
from contracts import search_attributes as sa
from domain.tickets import Actor
from persistence.models import Ticket, TimelineEntry
from tests.support.stack import Stack
from tests.support.tickets import act, open_for_review


async def test_a_step_with_nul_in_its_text_reaches_the_row_for_support_and_the_ticket_goes_on(
    stack: Stack,
) -> None:
    opened = await open_for_review(stack, type="refund_only")
    handle = stack.temporal.client.get_workflow_handle(opened.ticket_no)
    rejection = c.Reject(
        actor=Actor.merchant, actor_id="m-1001", reason_code="used", note="worn\x00out"
    )

    async with asyncio.timeout(60):
        answer = await handle.execute_update(
            "reject", rejection, id="nul-reject", result_type=c.ActionResult
        )

    assert answer.status == "rejected", answer
    async with stack.sessions() as session:
        ticket = await session.get(Ticket, opened.ticket_no)
        entry = (
            await session.scalars(
                select(TimelineEntry)
                .where(TimelineEntry.ticket_no == opened.ticket_no)
                .order_by(TimelineEntry.seq.desc())
                .limit(1)
            )
        ).one()
    assert ticket is not None
    assert (ticket.status, ticket.version, ticket.escalated) == ("rejected", answer.version, True)
    assert "\ufffd" in entry.reason and "\x00" not in entry.reason
    assert "cannot store" in entry.data["unstorable"]
    described = await handle.describe()
    assert described.typed_search_attributes.get(sa.ESCALATED) is True

    # The ticket still answers its buyer: escalating the rejection is the next step.
    escalated = await act(stack, opened.buyer, opened.ticket_no, "escalate", {"reason": "unfair"})
    assert escalated.status_code == 200, escalated.text
    assert escalated.json()["status"] == "under_arbitration"
