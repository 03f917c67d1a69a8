"""The facts merchant rules read of a ticket (domain.rules.TicketFacts), from its application.

Taken once, when the ticket opens, and stored with it: the ticket's rules read them with the
buyer's risk the workflow adds, and a what-if re-decides the ticket from the same stored facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from domain.orders import OrderSnapshot
from domain.reasons import fault_of
from domain.refund_terms import RefundQuote
from domain.rules import LineFacts, TicketFacts


def _whole_days(since: datetime | None, now: datetime) -> int:
    return -1 if since is None else max(0, (now - since).days)


def opening_facts(
    order: OrderSnapshot,
    quote: RefundQuote,
    *,
    ticket_type: str,
    reason_code: str,
    line_reasons: Mapping[str, str],
    requested_amount: int | None,
    channel: str,
    opened_by: str,
    evidence_count: int,
    opened_at: datetime,
) -> TicketFacts:
    """The facts of a ticket opening now on `order` with `quote`; the risk is the workflow's."""
    by_line = {line.line_id: line for line in order.lines}
    lines = [
        LineFacts(
            line_id=line.line_id,
            sku=by_line[line.line_id].sku,
            tags=list(by_line[line.line_id].tags),
            quantity=line.quantity,
            amount=line.amount,
            reason=line_reasons.get(line.line_id, reason_code),
        )
        for line in quote.lines
    ]
    ordered_at = order.payment.paid_at or order.shipped_at or order.delivered_at
    return TicketFacts(
        type=ticket_type,
        reason=reason_code,
        fault=fault_of(reason_code),
        requested_amount=requested_amount if requested_amount is not None else quote.total,
        quoted_amount=quote.total,
        currency=order.currency,
        lines=lines,
        skus=sorted({line.sku for line in lines}),
        tags=sorted({tag for line in lines for tag in line.tags}),
        order_age_days=max(0, _whole_days(ordered_at, opened_at)),
        shipped=order.is_shipped,
        delivered=order.delivered_at is not None,
        days_since_delivery=_whole_days(order.delivered_at, opened_at),
        channel=channel,
        payment_method=order.payment.method,
        opened_by=opened_by,
        evidence_count=evidence_count,
    )


def risk_facts(risk: Mapping[str, Any]) -> dict[str, Any]:
    """The facts of the buyer's risk, from a risk assessment's fields (`contracts`'
    RiskAssessment, as the workflow has it or as a timeline step recorded it)."""
    return {
        "risk_level": risk.get("level", "low"),
        "risk_reasons": list(risk.get("reasons", [])),
        "refunds_90d": int(risk.get("refunded_tickets", 0)),
        "watchlisted": bool(risk.get("watchlisted", False)),
    }
