"""Starting a ticket's workflow, the one way every starter does it: the API when a ticket opens
or its refund comes back, and the consistency check when a ticket's row outlived a lost start.

The ticket number is the workflow id. How a caller answers a Temporal that fails is its own
(the API's 503s are in `api.faults`); this module only makes the start.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    Priority,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)

from activities.refund_records import refund_state
from contracts import RefundDestination, Reopening, TicketInput, TicketPolicy, TicketResult
from contracts import search_attributes as sa
from domain.exchanges import ExchangeTerms
from domain.money import format_minor
from domain.orders import OrderSnapshot, OrderStatus
from domain.rules import TicketFacts
from domain.tickets import Actor, RefundStatus, TicketStatus
from persistence.models import Refund, Ticket, TimelineEntry
from persistence.orders import get_order, to_snapshot
from workflows.ticket import TicketWorkflow

# A new ticket's start, made again by whoever is not sure it was made: it joins the workflow
# already running, and a workflow of that id that ran and ended is never run a second time
# (`WorkflowAlreadyStartedError`).
NEW_TICKET: dict[str, Any] = {
    "id_conflict_policy": WorkflowIDConflictPolicy.USE_EXISTING,
    "id_reuse_policy": WorkflowIDReusePolicy.REJECT_DUPLICATE,
}


async def start_ticket(
    temporal: Client,
    task_queue: str,
    ticket: TicketInput,
    *,
    rpc_timeout: timedelta,
    status: TicketStatus = TicketStatus.submitted,
    **start: Any,
) -> WorkflowHandle[TicketWorkflow, TicketResult]:
    """`start` adds start options: `NEW_TICKET`'s, or a signal delivered with the start."""
    amount = format_minor(ticket.quoted_amount, ticket.currency)
    return await temporal.start_workflow(
        TicketWorkflow.run,
        ticket,
        id=ticket.ticket_no,
        task_queue=task_queue,
        # One merchant's burst of work (a bulk run's thousand approvals) is dispatched in turn
        # with every other merchant's, not ahead of it (the server's `matching.enableFairness`).
        priority=Priority(fairness_key=ticket.merchant_id),
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(sa.TICKET_TYPE, ticket.type),
                SearchAttributePair(sa.TICKET_STATUS, status),
                SearchAttributePair(sa.ORDER_ID, ticket.order_id),
                SearchAttributePair(sa.MERCHANT_ID, ticket.merchant_id),
                SearchAttributePair(sa.BUYER_ID, ticket.buyer_id),
                SearchAttributePair(sa.REFUND_AMOUNT, ticket.quoted_amount),
                SearchAttributePair(sa.ESCALATED, False),
            ]
        ),
        static_summary=f"{ticket.type} · order {ticket.order_id} · {amount}",
        static_details=(
            f"Ticket **{ticket.ticket_no}** opened by {ticket.opened_by} on order "
            f"**{ticket.order_id}** (buyer {ticket.buyer_id}, "
            f"merchant {ticket.merchant_id}).\n\n"
            f"Reason: {ticket.reason_code}. Lines: "
            + ", ".join(f"{line} x{qty}" for line, qty in ticket.lines.items())
            + f".\n\nQuoted refund: {amount}. Policy {ticket.policy.version}."
            + (f" Merchant rules {ticket.policy.rules.version}." if ticket.policy.rules else "")
            + ("\n\nReopened: its refund came back after it succeeded." if ticket.reopened else "")
        ),
        rpc_timeout=rpc_timeout,
        **start,
    )


def opening_input(
    ticket: Ticket, order: OrderSnapshot, opened_at: datetime, reopened: Reopening | None = None
) -> TicketInput:
    """The workflow's input, from the ticket's row: the same when a retry starts it again."""
    return TicketInput(
        ticket_no=ticket.ticket_no,
        order_id=ticket.order_id,
        buyer_id=ticket.buyer_id,
        merchant_id=ticket.merchant_id,
        type=ticket.type,
        order_shipped=order.is_shipped,
        order_delivered=order.status in (OrderStatus.delivered, OrderStatus.completed),
        currency=ticket.currency,
        quoted_amount=ticket.quoted_amount,
        reason_code=ticket.reason_code,
        requested_amount=ticket.requested_amount,
        lines={line.line_id: line.quantity for line in ticket.lines},
        policy=TicketPolicy.model_validate(ticket.policy),
        opened_by=Actor(ticket.created_by_role),
        opened_at=opened_at,
        reopened=reopened,
        facts=None if ticket.facts is None else TicketFacts.model_validate(ticket.facts),
        exchange=None if ticket.exchange is None else ExchangeTerms.model_validate(ticket.exchange),
    )


async def stored_opening_input(session: AsyncSession, ticket: Ticket) -> TicketInput:
    """The input of a stored ticket's first start, as a retry of its creation builds it."""
    order = await get_order(session, ticket.order_id)
    assert order is not None  # a ticket's order is never deleted
    return opening_input(ticket, to_snapshot(order), ticket.created_at)


async def reopened_input(session: AsyncSession, ticket: Ticket, refund: Refund) -> TicketInput:
    """The ticket as its first run knew it, plus where its record stands now."""
    order = await get_order(session, ticket.order_id)
    assert order is not None
    seq = await session.scalar(
        select(func.coalesce(func.max(TimelineEntry.seq), 0)).where(
            TimelineEntry.ticket_no == ticket.ticket_no
        )
    )
    refund_seq = await session.scalar(
        select(func.max(Refund.seq)).where(Refund.ticket_no == ticket.ticket_no)
    )
    return opening_input(
        ticket,
        to_snapshot(order),
        ticket.created_at,
        reopened=Reopening(
            status=TicketStatus(ticket.status),
            version=ticket.version,
            seq=int(seq or 0),
            refund_seq=int(refund_seq or refund.seq),
            refunded_amount=ticket.refunded_amount,
            refund=refund_state(refund).model_copy(update={"status": RefundStatus.succeeded}),
            amount=refund.amount,
            service_fee=int(refund.breakdown.get("service_fee", 0)),
            requested_amount=refund.amount,
            lines={line_id: int(qty) for line_id, qty in refund.line_quantities.items()},
            destination=RefundDestination(
                kind=refund.destination, details=refund.destination_details
            ),
            price_difference=bool(refund.breakdown.get("price_difference")),
        ),
    )
