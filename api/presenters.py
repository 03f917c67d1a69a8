"""Rows to response bodies."""

from __future__ import annotations

from api.schemas.orders import OrderView
from api.schemas.tickets import (
    RefundView,
    TicketDetail,
    TicketLineBody,
    TicketSummary,
    TimelineView,
)
from domain.actions import Action
from persistence.models import Order, Refund, Ticket, TimelineEntry
from persistence.orders import to_snapshot


def order_view(order: Order) -> OrderView:
    snapshot = to_snapshot(order).model_dump()
    return OrderView(
        **snapshot,
        after_sales_status=order.after_sales_status,
        refunded_total=order.refunded_total,
        closed=order.closed_at is not None,
        updated_at=order.updated_at,
    )


def ticket_summary(ticket: Ticket) -> TicketSummary:
    return TicketSummary.model_validate(ticket, from_attributes=True)


def ticket_detail(
    ticket: Ticket,
    refunds: list[Refund],
    timeline: list[TimelineEntry],
    allowed_actions: list[Action],
) -> TicketDetail:
    summary = ticket_summary(ticket).model_dump()
    return TicketDetail(
        **summary,
        description=ticket.description,
        evidence=list(ticket.evidence),
        destination=ticket.destination,
        requested_amount=ticket.requested_amount,
        lines=[TicketLineBody(line_id=x.line_id, quantity=x.quantity) for x in ticket.lines],
        breakdown=ticket.breakdown,
        policy=ticket.policy,
        refunds=[RefundView.model_validate(r, from_attributes=True) for r in refunds],
        timeline=[TimelineView.model_validate(t, from_attributes=True) for t in timeline],
        allowed_actions=[str(action) for action in allowed_actions],
    )
