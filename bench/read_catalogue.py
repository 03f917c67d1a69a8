"""What the seeded tickets are made of: products and their refund quotes, the policy tickets
freeze, and how likely each type, reason and status is. Quotes and policies come from the
engine's own rules (`domain.refunds.quote_refund`, `api.services.policy.ticket_policy`), so the
seeded rows carry what real ones carry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from api.services.policy import refund_policy, ticket_policy
from domain.orders import OrderLine, OrderSnapshot, OrderStatus, Payment
from domain.reasons import ReasonCode
from domain.refund_terms import PriorRefunds, RefundRequest, RequestedLine
from domain.refunds import quote_refund
from domain.tickets import Actor, TicketStatus, TicketType
from settings import Settings

# Merchant n sells in CURRENCIES[n % len(CURRENCIES)]: most in CNY.
CURRENCIES = ("CNY", "CNY", "CNY", "USD", "JPY")
SHIPPING = {"CNY": 1000, "USD": 599, "JPY": 500}
# (sku, title, unit price, discount per unit) in each currency's minor units.
PRODUCTS = {
    "CNY": [
        ("TEA-LJ-250", "Longjing green tea 250 g", 8800, 500),
        ("CUP-CEL-2", "Celadon tea cups, pair", 12900, 0),
        ("POT-ZISHA", "Zisha teapot", 45800, 4580),
        ("TEA-PUER-357", "Pu'er cake 357 g", 3333, 0),
    ],
    "USD": [
        ("JKT-RAIN-M", "Rain jacket, M", 12999, 1300),
        ("SCK-WOOL-3", "Wool socks", 899, 0),
        ("BAG-DAY-20", "Day pack 20 l", 5999, 0),
        ("CAP-TRAIL", "Trail cap", 2400, 200),
    ],
    "JPY": [
        ("CAP-TRAIL", "Trail cap", 3200, 400),
        ("MUG-ENA", "Enamel mug", 1800, 0),
        ("KNF-SANTOKU", "Santoku knife", 14800, 1000),
        ("TWL-IMA", "Imabari towel set", 5400, 0),
    ],
}
QUANTITIES = (1, 2)
# Out of 100.
TYPE_ODDS = {TicketType.refund_only: 55, TicketType.return_refund: 38, TicketType.exchange: 7}
REASON_ODDS = {
    ReasonCode.no_longer_needed: 38,
    ReasonCode.wrong_size_or_model: 20,
    ReasonCode.quality_issue: 17,
    ReasonCode.not_as_described: 10,
    ReasonCode.damaged_in_transit: 8,
    ReasonCode.wrong_item: 4,
    ReasonCode.missing_parts: 3,
}
# A refund-only ticket is on an order not shipped yet this often (out of 100).
BEFORE_SHIPMENT = 30
# Tickets younger than this may still be open; older ones have (nearly all) ended.
RECENT = timedelta(days=21)

S = TicketStatus
# Per type, for recent tickets and for older ones: how many of 1000 are in each status.
STATUS_ODDS: dict[TicketType, dict[bool, dict[TicketStatus, int]]] = {
    TicketType.refund_only: {
        True: {
            S.awaiting_merchant_review: 140,
            S.awaiting_second_approval: 10,
            S.refunding: 40,
            S.under_arbitration: 25,
            S.refund_failed: 5,
            S.rejected: 80,
            S.cancelled: 40,
            S.completed: 640,
            S.closed: 20,
        },
        False: {
            S.completed: 800,
            S.rejected: 90,
            S.cancelled: 50,
            S.closed: 55,
            S.refund_failed: 5,
        },
    },
    TicketType.return_refund: {
        True: {
            S.awaiting_merchant_review: 100,
            S.awaiting_second_approval: 5,
            S.awaiting_buyer_return: 140,
            S.return_in_transit: 120,
            S.awaiting_inspection: 80,
            S.inspection_failed: 15,
            S.refunding: 30,
            S.under_arbitration: 30,
            S.rejected: 70,
            S.cancelled: 50,
            S.completed: 350,
            S.closed: 10,
        },
        False: {
            S.completed: 720,
            S.rejected: 100,
            S.cancelled: 70,
            S.closed: 80,
            S.inspection_failed: 20,
            S.refund_failed: 10,
        },
    },
    TicketType.exchange: {
        True: {
            S.awaiting_merchant_review: 100,
            S.awaiting_buyer_return: 140,
            S.return_in_transit: 120,
            S.awaiting_inspection: 80,
            S.awaiting_reship: 60,
            S.replacement_in_transit: 90,
            S.under_arbitration: 30,
            S.rejected: 60,
            S.cancelled: 50,
            S.completed: 260,
            S.closed: 10,
        },
        False: {
            S.completed: 760,
            S.rejected: 90,
            S.cancelled: 60,
            S.closed: 80,
            S.inspection_failed: 10,
        },
    },
}


@dataclass(frozen=True)
class Shape:
    """What a ticket in a status carries: who acts next and what happens if nobody does (open
    statuses wait on a deadline), how many transitions it took, whether a refund was granted
    and paid, whether it has ended, whether goods went back to a warehouse."""

    next_actor: Actor | None
    on_timeout: str | None
    version: int
    granted: bool = False
    refunded: bool = False
    closed: bool = False
    returned: bool = False


SHAPES = {
    S.awaiting_merchant_review: Shape(Actor.merchant, "approve automatically", 1),
    S.awaiting_second_approval: Shape(Actor.support, None, 2),
    S.awaiting_buyer_return: Shape(Actor.buyer, "cancel the ticket", 2, granted=True),
    S.return_in_transit: Shape(
        Actor.system, "escalate to support (possible loss)", 3, granted=True, returned=True
    ),
    S.awaiting_inspection: Shape(
        Actor.warehouse,
        "accept the goods and refund automatically",
        4,
        granted=True,
        returned=True,
    ),
    S.awaiting_reship: Shape(Actor.merchant, "escalate to support", 5, returned=True),
    S.replacement_in_transit: Shape(Actor.buyer, "complete automatically", 6, returned=True),
    S.refunding: Shape(Actor.system, "settlement overdue", 3, granted=True),
    S.rejected: Shape(Actor.buyer, "close the ticket", 2),
    S.inspection_failed: Shape(
        Actor.merchant, "escalate to support", 5, granted=True, returned=True
    ),
    S.under_arbitration: Shape(Actor.support, None, 3),
    S.refund_failed: Shape(Actor.support, None, 4, granted=True),
    S.completed: Shape(None, None, 5, granted=True, refunded=True, closed=True, returned=True),
    S.cancelled: Shape(None, None, 2, closed=True),
    S.closed: Shape(None, None, 3, closed=True),
}


def slots(odds: dict[Any, int], total: int) -> list[tuple[int, str]]:
    """(slot, value) for slots 0..total-1, each value taking as many slots as its odds; a
    uniform draw floored to a slot picks a value with those odds."""
    if sum(odds.values()) != total:
        raise ValueError(f"odds add up to {sum(odds.values())}, not {total}")
    picked: list[tuple[int, str]] = []
    for value, weight in odds.items():
        picked += [(len(picked) + k, str(value)) for k in range(weight)]
    return picked


@dataclass(frozen=True)
class Quote:
    """One product bought in one quantity, refunded for one reason, before or after shipment."""

    currency: str
    product: int
    quantity: int
    reason: str
    shipped: bool
    sku: str
    title: str
    unit_price: int
    discount: int
    total: int
    paid_total: int
    breakdown: dict[str, Any]


def quotes(settings: Settings) -> list[Quote]:
    """Every combination's refund quote, as the engine computes it when a ticket opens."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for currency, products in PRODUCTS.items():
        policy = refund_policy(settings, currency)
        for number, (sku, title, price, discount) in enumerate(products):
            for quantity in QUANTITIES:
                line = OrderLine(
                    line_id="L1",
                    sku=sku,
                    title=title,
                    quantity=quantity,
                    unit_price=price,
                    discount=discount * quantity,
                )
                paid = quantity * price - discount * quantity + SHIPPING[currency]
                for shipped in (False, True):
                    order = OrderSnapshot(
                        order_id="SEED",
                        buyer_id="b",
                        merchant_id="m",
                        currency=currency,
                        lines=[line],
                        shipping_fee=SHIPPING[currency],
                        payment=Payment(
                            provider="sandbox", reference="pay", method="card", paid_total=paid
                        ),
                        status=OrderStatus.delivered if shipped else OrderStatus.paid,
                        shipped_at=at if shipped else None,
                        delivered_at=at if shipped else None,
                    )
                    for reason in REASON_ODDS:
                        quote = quote_refund(
                            order,
                            PriorRefunds.none(),
                            RefundRequest(
                                lines=[RequestedLine(line_id="L1", quantity=quantity)],
                                reason_code=reason,
                            ),
                            policy,
                        )
                        rows.append(
                            Quote(
                                currency,
                                number,
                                quantity,
                                str(reason),
                                shipped,
                                sku,
                                title,
                                price,
                                discount * quantity,
                                quote.total,
                                paid,
                                quote.model_dump(mode="json"),
                            )
                        )
    return rows


def policies(settings: Settings) -> dict[str, dict[str, Any]]:
    """The global policy a ticket freezes, per currency (its second-approval threshold differs)."""
    return {
        currency: ticket_policy(settings, currency).model_dump(mode="json") for currency in PRODUCTS
    }
