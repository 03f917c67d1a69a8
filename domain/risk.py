"""Buyer risk from after-sales history (SPEC §5): a level and the reasons for it, in words."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from domain.money import CURRENCY_EXPONENTS, format_minor, major_to_minor

HISTORY_WINDOW = timedelta(days=90)
"""How far back orders and refunds count."""
REPEAT_TICKET_WINDOW = timedelta(hours=24)
"""Tickets on one order opened this close together look like probing."""

REFUNDS_MEDIUM = 3
"""Refunded tickets in the window that make a buyer medium risk."""
REFUNDS_HIGH = 6
"""Refunded tickets in the window that make a buyer high risk."""
REFUND_SHARE_MEDIUM_PERCENT = 50
"""Share of the window's orders refunded that makes a buyer medium risk..."""
REFUND_SHARE_MIN_REFUNDS = 2
"""...once at least this many tickets were refunded (one refund of one order is no pattern)."""
BULK_REFUND_MIN_ORDERS = 3
"""'Bought many then refunded many': at least this many orders in the window..."""
BULK_REFUND_SHARE_PERCENT = 80
"""...and at least this share of them refunded: high risk."""
REFUNDED_AMOUNT_MEDIUM_MAJOR = 3_000
"""Refunded in the window, in major units of each currency (like the second-approval threshold)."""
REPEAT_TICKETS_MEDIUM = 2
"""Other tickets on the same order opened within `REPEAT_TICKET_WINDOW`: medium risk."""


class RiskLevel(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK: Mapping[RiskLevel, int] = MappingProxyType(
    {RiskLevel.low: 0, RiskLevel.medium: 1, RiskLevel.high: 2}
)


@dataclass(frozen=True)
class BuyerHistory:
    """A buyer's figures over `HISTORY_WINDOW`, the ticket being assessed left out."""

    orders: int = 0
    refunded_tickets: int = 0
    refunded_orders: int = 0
    """Distinct orders among the refunded tickets."""
    refunded_amounts: Mapping[str, int] = field(default_factory=dict)
    """Currency -> refunded minor units."""
    tickets_on_order_24h: int = 0
    """Other tickets on the assessed ticket's order opened within `REPEAT_TICKET_WINDOW` of it."""
    watchlist_reason: str | None = None

    @property
    def watchlisted(self) -> bool:
        return self.watchlist_reason is not None

    @property
    def refund_share_percent(self) -> int:
        """Refunded orders as a whole percentage of the orders (rounded half up, at most 100).

        An order placed before the window but refunded within it counts in both."""
        orders = max(self.orders, self.refunded_orders)
        if orders == 0:
            return 0
        return (200 * self.refunded_orders + orders) // (2 * orders)

    def figures(self) -> dict[str, Any]:
        """The history as plain JSON, for evidence summaries."""
        return {
            "window_days": HISTORY_WINDOW.days,
            "orders": self.orders,
            "refunded_tickets": self.refunded_tickets,
            "refunded_orders": self.refunded_orders,
            "refund_share_percent": self.refund_share_percent,
            "refunded_amounts": dict(sorted(self.refunded_amounts.items())),
            "tickets_on_order_24h": self.tickets_on_order_24h,
            "watchlisted": self.watchlisted,
        }


@dataclass(frozen=True)
class RiskScore:
    level: RiskLevel
    reasons: list[str]


def score(history: BuyerHistory) -> RiskScore:
    """The highest level any signal reaches, with one reason per signal that fired."""
    signals: list[tuple[RiskLevel, str]] = []
    if history.watchlist_reason is not None:
        signals.append((RiskLevel.high, f"on the support watchlist: {history.watchlist_reason}"))
    signals.extend(_refund_signals(history))
    signals.extend(_amount_signals(history.refunded_amounts))
    if history.tickets_on_order_24h >= REPEAT_TICKETS_MEDIUM:
        signals.append(
            (
                RiskLevel.medium,
                f"{history.tickets_on_order_24h} other tickets on this order "
                f"within {_hours(REPEAT_TICKET_WINDOW)} h",
            )
        )
    level = max((lvl for lvl, _ in signals), key=lambda lvl: lvl.rank, default=RiskLevel.low)
    return RiskScore(level=level, reasons=[reason for _, reason in signals])


def _refund_signals(history: BuyerHistory) -> list[tuple[RiskLevel, str]]:
    refunds, share = history.refunded_tickets, history.refund_share_percent
    orders = max(history.orders, history.refunded_orders)
    signals: list[tuple[RiskLevel, str]] = []
    if orders >= BULK_REFUND_MIN_ORDERS and share >= BULK_REFUND_SHARE_PERCENT:
        signals.append(
            (
                RiskLevel.high,
                f"bought many then refunded many: {history.refunded_orders} of {orders} orders "
                f"refunded in the last {HISTORY_WINDOW.days} days",
            )
        )
    if refunds >= REFUNDS_HIGH:
        level = RiskLevel.high
    elif refunds >= REFUNDS_MEDIUM or (
        refunds >= REFUND_SHARE_MIN_REFUNDS and share >= REFUND_SHARE_MEDIUM_PERCENT
    ):
        level = RiskLevel.medium
    else:
        return signals
    noun = "refund" if refunds == 1 else "refunds"
    signals.append(
        (
            level,
            f"{refunds} {noun} in the last {HISTORY_WINDOW.days} days ({share}% of orders)",
        )
    )
    return signals


def _amount_signals(amounts: Mapping[str, int]) -> list[tuple[RiskLevel, str]]:
    return [
        (
            RiskLevel.medium,
            f"{format_minor(amount, currency)} refunded in the last {HISTORY_WINDOW.days} days",
        )
        for currency, amount in sorted(amounts.items())
        if currency in CURRENCY_EXPONENTS
        and amount >= major_to_minor(REFUNDED_AMOUNT_MEDIUM_MAJOR, currency)
    ]


def _hours(span: timedelta) -> int:
    return int(span.total_seconds()) // 3600
