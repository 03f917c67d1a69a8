"""Starting a ticket's workflow: when the ticket opens, and again when its refund comes back."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from activities.refund_records import refund_state
from api import faults
from contracts import RefundDestination, Reopening, TicketInput, TicketPolicy
from contracts import search_attributes as sa
from domain.money import format_minor
from domain.orders import OrderSnapshot, OrderStatus
from domain.tickets import Actor, RefundStatus, TicketStatus
from persistence.models import Refund, Ticket, TimelineEntry
from persistence.orders import get_order, to_snapshot
from settings import Settings
from workflows.ticket import TicketWorkflow


async def start_ticket_workflow(
    temporal: Client,
    settings: Settings,
    ticket: TicketInput,
    *,
    status: TicketStatus = TicketStatus.submitted,
    **start: Any,
) -> None:
    """`start` adds start options, e.g. a signal delivered with the start. Temporal that does
    not answer is a 503 `temporal_unavailable`: the caller (a provider's webhook) sends again."""
    try:
        await faults.bounded(_start(temporal, settings, ticket, status, **start))
    except (RPCError, faults.TemporalSilent) as error:
        raise faults.unavailable(
            faults.TEMPORAL_UNAVAILABLE, f"the ticket could not be started: {error}"
        ) from error


async def ensure_ticket_workflow(temporal: Client, settings: Settings, ticket: TicketInput) -> None:
    """Start a new ticket's workflow unless it already was: the ticket number is the workflow id,
    so starting it again joins the running one, and one that ran and ended is not run twice.
    Faults are the caller's to answer (it has said that the ticket may exist)."""
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await faults.bounded(
            _start(
                temporal,
                settings,
                ticket,
                TicketStatus.submitted,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        )


async def _start(
    temporal: Client, settings: Settings, ticket: TicketInput, status: TicketStatus, **start: Any
) -> None:
    amount = format_minor(ticket.quoted_amount, ticket.currency)
    await temporal.start_workflow(
        TicketWorkflow.run,
        ticket,
        id=ticket.ticket_no,
        task_queue=settings.temporal_task_queue,
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
            + ("\n\nReopened: its refund came back after it succeeded." if ticket.reopened else "")
        ),
        rpc_timeout=faults.TEMPORAL_CALL,
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
    )


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
        ),
    )
