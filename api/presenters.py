"""Rows to response bodies."""

from __future__ import annotations

from typing import Any

from api.auth import Role
from api.schemas.messages import MessageView
from api.schemas.orders import OrderView
from api.schemas.risk import RiskView
from api.schemas.tickets import (
    DifferencePaymentView,
    ExchangeView,
    InspectionView,
    RefundView,
    ReplacementView,
    ReturnLabelView,
    RulesView,
    ShipmentView,
    TicketDetail,
    TicketLineBody,
    TicketSummary,
    TimelineView,
    TrackingEventView,
)
from api.visibility import TICKET_FIELDS, TicketPart, sees, sees_data
from domain.actions import Action
from domain.bank_accounts import masked
from domain.events import TicketEvent
from domain.exchanges import ExchangeTerms
from domain.risk_words import risk_reasons, without_risk
from persistence.models import (
    Inspection,
    Order,
    Refund,
    ReturnLabel,
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


def refund_view(refund: Refund, role: Role) -> RefundView:
    view = RefundView.model_validate(refund, from_attributes=True)
    details = view.destination_details
    shown = shown_details(details) if sees(role, TicketPart.destination_details) else None
    return view.model_copy(update={"destination_details": shown})


def ticket_summary(ticket: Ticket, role: Role, reasons: list[str] | None = None) -> TicketSummary:
    """The ticket as a list shows it; `reasons` are the risk reasons known besides the ticket's."""
    fields = TicketSummary.model_validate(ticket, from_attributes=True).model_dump()
    if fields["on_timeout"] and not sees(role, TicketPart.risk):
        known = [*ticket.risk_reasons, *(reasons or [])]
        fields["on_timeout"] = without_risk(fields["on_timeout"], known)
    return TicketSummary(**_shown(fields, role))


def timeline_view(entry: TimelineEntry, role: Role, reasons: list[str]) -> TimelineView:
    """One transition; its data and its words follow the table (api.visibility)."""
    view = TimelineView.model_validate(entry, from_attributes=True)
    data = {key: value for key, value in view.data.items() if sees_data(role, key)}
    reason = view.reason if sees(role, TicketPart.risk) else without_risk(view.reason, reasons)
    return view.model_copy(update={"data": data, "reason": reason})


def ticket_detail(
    ticket: Ticket,
    role: Role,
    *,
    refunds: list[Refund],
    timeline: list[TimelineEntry],
    shipments: list[Shipment],
    return_label: ReturnLabel | None,
    tracking_events: list[TrackingEvent],
    inspection: Inspection | None,
    messages: list[TicketMessage],
    allowed: list[Action],
) -> TicketDetail:
    """The whole ticket, each part shown only to the roles of api.visibility (`null` to others);
    the caller may leave a hidden part's rows unloaded."""
    reasons = [*ticket.risk_reasons, *risk_reasons(*(t.data.get("risk") for t in timeline))]
    summary = ticket_summary(ticket, role, reasons).model_dump()
    replaced = {x["line_id"]: x["sku"] for x in (ticket.exchange or {}).get("lines", [])}
    fields: dict[str, Any] = {
        **summary,
        "description": ticket.description,
        "evidence": list(ticket.evidence),
        "destination": ticket.destination,
        "destination_details": shown_details(ticket.destination_details),
        "requested_amount": ticket.requested_amount,
        "lines": [
            TicketLineBody(
                line_id=x.line_id,
                quantity=x.quantity,
                reason_code=x.reason_code,
                replacement_sku=replaced.get(x.line_id),
            )
            for x in ticket.lines
        ],
        "breakdown": ticket.breakdown,
        "exchange": exchange_view(ticket, timeline),
        "policy": {name: value for name, value in ticket.policy.items() if name != "rules"},
        "service_fee": ticket.service_fee,
        "refunds": [refund_view(r, role) for r in refunds],
        "shipments": [ShipmentView.model_validate(s, from_attributes=True) for s in shipments],
        "return_label": ReturnLabelView(
            carrier=return_label.carrier,
            tracking_no=return_label.tracking_no,
            dropoff_code=return_label.dropoff_code,
            issued_at=return_label.issued_at,
            url=f"/v1/tickets/{ticket.ticket_no}/return-label",
        )
        if return_label
        else None,
        "tracking_events": [
            TrackingEventView.model_validate(e, from_attributes=True) for e in tracking_events
        ],
        "inspection": InspectionView.model_validate(inspection, from_attributes=True)
        if inspection
        else None,
        "messages": [MessageView.model_validate(m, from_attributes=True) for m in messages],
        "timeline": [
            timeline_view(t, role, reasons)
            for t in timeline
            # A rule's decision speaks of the merchant's rules and the buyer's risk.
            if t.event != TicketEvent.rule_decided or sees(role, TicketPart.rules)
        ],
        "allowed_actions": [str(action) for action in allowed],
        "risk": RiskView(
            level=ticket.risk_level,
            reasons=list(ticket.risk_reasons),
            evidence_summary=ticket.evidence_summary,
        ),
        "rules": rules_view(ticket, timeline),
    }
    return TicketDetail(**_shown(fields, role))


def exchange_view(ticket: Ticket, timeline: list[TimelineEntry]) -> ExchangeView | None:
    """The replacements and their difference; the payment once the workflow applied it."""
    if ticket.exchange is None:
        return None
    terms = ExchangeTerms.model_validate(ticket.exchange)
    paid = next((t.data for t in timeline if t.event == TicketEvent.difference_paid), None)
    return ExchangeView(
        currency=terms.currency,
        lines=[ReplacementView.model_validate(line.model_dump()) for line in terms.lines],
        difference=terms.difference,
        direction=terms.direction,
        refund=terms.refund,
        due=terms.due,
        payment=DifferencePaymentView.model_validate(paid) if paid else None,
    )


def rules_view(ticket: Ticket, timeline: list[TimelineEntry]) -> RulesView:
    """The rules the ticket opened under and the verdict its workflow recorded (none yet, or
    none at all for a ticket opened without rules)."""
    stored = ticket.policy.get("rules") or {}
    decided = next((t.data for t in timeline if t.event == TicketEvent.rule_decided), None)
    verdict = (decided or {}).get("rules") or {}
    return RulesView(
        version=stored.get("version"),
        rules=list(stored.get("rules", [])),
        decision=verdict.get("decision"),
        passed_over=list(verdict.get("passed_over", [])),
        facts=(decided or {}).get("facts") or ticket.facts,
    )


def _shown(fields: dict[str, Any], role: Role) -> dict[str, Any]:
    """A field whose part the role does not see is `null`; a field without a part is a bug."""
    return {
        name: value if sees(role, TICKET_FIELDS[name]) else None for name, value in fields.items()
    }
