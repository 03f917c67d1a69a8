"""Rows to response bodies."""

from __future__ import annotations

from typing import Any

from api.schemas.messages import MessageView
from api.schemas.orders import OrderView
from api.schemas.risk import RiskView
from api.schemas.tickets import (
    InspectionView,
    RefundView,
    ShipmentView,
    TicketDetail,
    TicketLineBody,
    TicketSummary,
    TimelineView,
    TrackingEventView,
)
from domain.actions import Action
from domain.bank_accounts import masked
from persistence.models import (
    Inspection,
    Order,
    Refund,
    Shipment,
    Ticket,
    TicketMessage,
    TimelineEntry,
    TrackingEvent,
)
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


def shown_details(details: dict[str, Any] | None) -> dict[str, Any] | None:
    """Destination details as screens show them: never a whole IBAN."""
    if details is None or "iban" not in details:
        return details
    return {**details, "iban": masked(str(details["iban"]))}


def refund_view(refund: Refund) -> RefundView:
    view = RefundView.model_validate(refund, from_attributes=True)
    return view.model_copy(update={"destination_details": shown_details(view.destination_details)})


def ticket_summary(ticket: Ticket) -> TicketSummary:
    return TicketSummary.model_validate(ticket, from_attributes=True)


def ticket_detail(
    ticket: Ticket,
    *,
    refunds: list[Refund],
    timeline: list[TimelineEntry],
    shipments: list[Shipment],
    tracking_events: list[TrackingEvent],
    inspection: Inspection | None,
    messages: list[TicketMessage],
    allowed: list[Action],
    with_risk: bool,
) -> TicketDetail:
    summary = ticket_summary(ticket).model_dump()
    risk = RiskView(
        level=ticket.risk_level,
        reasons=list(ticket.risk_reasons),
        evidence_summary=ticket.evidence_summary,
    )
    return TicketDetail(
        **summary,
        description=ticket.description,
        evidence=list(ticket.evidence),
        destination=ticket.destination,
        destination_details=shown_details(ticket.destination_details),
        requested_amount=ticket.requested_amount,
        lines=[TicketLineBody(line_id=x.line_id, quantity=x.quantity) for x in ticket.lines],
        breakdown=ticket.breakdown,
        policy=ticket.policy,
        service_fee=ticket.service_fee,
        refunds=[refund_view(r) for r in refunds],
        shipments=[ShipmentView.model_validate(s, from_attributes=True) for s in shipments],
        tracking_events=[
            TrackingEventView.model_validate(e, from_attributes=True) for e in tracking_events
        ],
        inspection=InspectionView.model_validate(inspection, from_attributes=True)
        if inspection
        else None,
        messages=[MessageView.model_validate(m, from_attributes=True) for m in messages],
        timeline=[TimelineView.model_validate(t, from_attributes=True) for t in timeline],
        allowed_actions=[str(action) for action in allowed],
        risk=risk if with_risk else None,
    )
