"""Who sees what of a ticket and of an order (SPEC §8): one table, read by the presenters, the
README and the tests alike. Pure data; which tickets a caller reaches at all is `api.scopes`.

A part a role does not see is answered as `null`, never left out, so a client can tell "hidden"
from "none yet" only by the table, not by guessing from a missing key.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from api.auth import Role
from domain.actions import Action, who


class TicketPart(StrEnum):
    summary = "summary"  # number, order, parties, type, status, deadline, next actor, actions
    amounts = "amounts"  # currency, quoted / granted / refunded / requested, breakdown, fee
    lines = "lines"  # the order lines and quantities the ticket covers
    policy = "policy"  # the deadlines and rules the ticket was opened under
    evidence = "evidence"  # the buyer's description and evidence photos
    destination = "destination"  # where refunds go: original, balance, coupon, bank_transfer
    destination_details = "destination_details"  # the bank account (IBAN masked), the currency
    refunds = "refunds"  # each refund, its provider and status history
    shipments = "shipments"  # parcels both ways and their tracking events
    inspection = "inspection"  # the warehouse's result per line, notes and photos
    timeline = "timeline"  # every transition with actor, time and reason
    messages = "messages"  # the conversation of buyer, merchant and support
    risk = "risk"  # the buyer's risk level, its reasons, the evidence summary
    rules = "rules"  # the merchant's rules the ticket opened under, the rule that fired, its facts


B, M, W, S, P = Role.buyer, Role.merchant, Role.warehouse, Role.support, Role.platform
EVERYONE = frozenset(Role)

# part -> the roles that see it, on the tickets their scope lets them read.
TICKET_READERS: Mapping[TicketPart, frozenset[Role]] = {
    TicketPart.summary: EVERYONE,
    # The warehouse sees what is at stake (the timeline's reasons name the amounts too), not
    # where the money goes.
    TicketPart.amounts: EVERYONE,
    TicketPart.lines: EVERYONE,
    TicketPart.policy: frozenset({B, M, S}),
    # The warehouse inspects the goods against the buyer's claim.
    TicketPart.evidence: frozenset({B, M, W, S}),
    TicketPart.destination: frozenset({B, M, S, P}),
    # The buyer's own account, and support who may redirect a failed refund; always masked.
    TicketPart.destination_details: frozenset({B, S}),
    TicketPart.refunds: frozenset({B, M, S, P}),
    TicketPart.shipments: frozenset({B, M, W, S}),
    TicketPart.inspection: frozenset({B, M, W, S}),
    TicketPart.timeline: frozenset({B, M, W, S}),
    # Whoever may read `GET /v1/tickets/{id}/messages`, and nobody else.
    TicketPart.messages: frozenset(Role(actor) for actor in who(Action.messages)),
    TicketPart.risk: frozenset({M, S}),
    # A merchant's rules are its own business; their facts include the buyer's risk.
    TicketPart.rules: frozenset({M, S}),
}

_P = TicketPart
# Every field of `TicketDetail` (and so of `TicketSummary`) -> the part it belongs to.
TICKET_FIELDS: Mapping[str, TicketPart] = {
    **dict.fromkeys(
        (
            "ticket_no",
            "order_id",
            "buyer_id",
            "merchant_id",
            "warehouse_id",
            "type",
            "status",
            "reason_code",
            "next_actor",
            "deadline_at",
            "on_timeout",
            "escalated",
            "channel",
            "version",
            "created_at",
            "updated_at",
            "allowed_actions",
        ),
        _P.summary,
    ),
    **dict.fromkeys(
        (
            "currency",
            "currency_exponent",
            "quoted_amount",
            "granted_amount",
            "refunded_amount",
            "requested_amount",
            "breakdown",
            "exchange",
            "service_fee",
        ),
        _P.amounts,
    ),
    "lines": _P.lines,
    "policy": _P.policy,
    "description": _P.evidence,
    "evidence": _P.evidence,
    "destination": _P.destination,
    "destination_details": _P.destination_details,
    "refunds": _P.refunds,
    "shipments": _P.shipments,
    "return_label": _P.shipments,
    "tracking_events": _P.shipments,
    "inspection": _P.inspection,
    "timeline": _P.timeline,
    "messages": _P.messages,
    "risk": _P.risk,
    "rules": _P.rules,
}

# A timeline entry's `data` key -> the part it tells of; a key not listed is for support only,
# so a new kind of data reaches nobody else until it has its row here.
TIMELINE_DATA: Mapping[str, TicketPart] = {
    "left_seconds": _P.summary,
    "amount": _P.amounts,
    "breakdown": _P.amounts,
    "threshold": _P.amounts,
    "difference": _P.amounts,
    "currency": _P.amounts,
    "reference": _P.amounts,
    "paid_at": _P.amounts,
    "provider_refund_id": _P.refunds,
    "event_id": _P.shipments,
    "courier_at": _P.shipments,
    "carrier": _P.shipments,
    "tracking_no": _P.shipments,
    "label_id": _P.shipments,
    "label": _P.shipments,
    "lines": _P.inspection,
    "risk": _P.risk,
    "rules": _P.rules,
    "facts": _P.rules,
}


def ticket_parts(role: Role) -> frozenset[TicketPart]:
    return frozenset(part for part, roles in TICKET_READERS.items() if role in roles)


def sees(role: Role, part: TicketPart) -> bool:
    return role in TICKET_READERS[part]


def sees_data(role: Role, key: str) -> bool:
    part = TIMELINE_DATA.get(key)
    return sees(role, part) if part is not None else role is S


# `GET /v1/orders/{id}`: the buyer and the merchant of the order, support, and the platform that
# sent it; each sees the whole snapshot (lines and prices, shipping fee, payment) with the
# after-sales status and refunded total. The warehouse learns a return's items from its scan.
ORDER_READERS: tuple[Role, ...] = (B, M, S, P)
# `POST /v1/orders/{id}/refund-quote`: those who may open a ticket, and the merchant weighing one.
QUOTE_READERS: tuple[Role, ...] = (B, M, S)
