"""Who may open which ticket on which order lines, and until when (SPEC §2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict

from domain.durations import describe
from domain.orders import OrderSnapshot, OrderStatus
from domain.reasons import ReasonCode, is_merchant_fault
from domain.refund_terms import PriorRefunds, RequestedLine
from domain.tickets import TicketType

_ALLOWED_ORDER_STATUSES: Mapping[TicketType, frozenset[OrderStatus]] = {
    TicketType.refund_only: frozenset(OrderStatus),
    TicketType.return_refund: frozenset(
        {OrderStatus.shipped, OrderStatus.delivered, OrderStatus.completed}
    ),
    TicketType.exchange: frozenset({OrderStatus.delivered, OrderStatus.completed}),
}


# Orders whose delivery starts the return window; before delivery no window runs yet.
_WINDOWED_ORDER_STATUSES = frozenset({OrderStatus.delivered, OrderStatus.completed})


class ReturnWindows(BaseModel):
    """How long after delivery a ticket may be opened, by who is at fault (policy)."""

    model_config = ConfigDict(frozen=True)

    no_reason: timedelta
    merchant_fault: timedelta

    def for_reason(self, reason_code: ReasonCode | str) -> timedelta:
        return self.merchant_fault if is_merchant_fault(reason_code) else self.no_reason


class EligibilityError(ValueError):
    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


def check_order(order: OrderSnapshot, ticket_type: TicketType, prior: PriorRefunds) -> None:
    if order.payment.paid_total <= 0:
        raise EligibilityError("order_not_paid", f"order {order.order_id} has not been paid")
    if prior.total_amount >= order.payment.paid_total:
        raise EligibilityError(
            "order_already_refunded", f"order {order.order_id} is already fully refunded"
        )
    if order.status not in _ALLOWED_ORDER_STATUSES[ticket_type]:
        needs = " or ".join(sorted(_ALLOWED_ORDER_STATUSES[ticket_type]))
        raise EligibilityError(
            "type_not_allowed",
            f"a {ticket_type} ticket needs the order to be {needs}; it is {order.status}",
            "type",
        )


def check_lines(
    order: OrderSnapshot,
    lines: Sequence[RequestedLine],
    prior: PriorRefunds,
    open_tickets: Mapping[str, str],
) -> None:
    """Known lines, once each, one open ticket per line, quantities within what is left."""
    known = {line.line_id: line for line in order.lines}
    seen: set[str] = set()
    for index, requested in enumerate(lines):
        field = f"lines[{index}]"
        line = known.get(requested.line_id)
        if line is None:
            raise EligibilityError(
                "unknown_line",
                f"order {order.order_id} has no line {requested.line_id!r}",
                f"{field}.line_id",
            )
        if requested.line_id in seen:
            raise EligibilityError(
                "duplicate_line", f"line {requested.line_id} is listed twice", f"{field}.line_id"
            )
        seen.add(requested.line_id)
        holder = open_tickets.get(requested.line_id)
        if holder is not None:
            raise EligibilityError(
                "line_has_open_ticket",
                f"line {requested.line_id} already has open ticket {holder}",
                f"{field}.line_id",
            )
        left = line.quantity - prior.quantity_of(requested.line_id)
        if requested.quantity > left:
            raise EligibilityError(
                "quantity_exceeds_available",
                f"line {requested.line_id} has {left} unit(s) left to refund, "
                f"{requested.quantity} requested",
                f"{field}.quantity",
            )


def window_closes_at(
    order: OrderSnapshot, reason_code: ReasonCode | str, windows: ReturnWindows
) -> datetime | None:
    """When the window for this reason closes; None while no window runs (not delivered, or the
    platform did not say when it was)."""
    if order.status not in _WINDOWED_ORDER_STATUSES or order.delivered_at is None:
        return None
    return order.delivered_at + windows.for_reason(reason_code)


def check_window(
    order: OrderSnapshot, reason_code: ReasonCode | str, windows: ReturnWindows, now: datetime
) -> None:
    """Every ticket type on a delivered order is bound by the window of its reason."""
    closes_at = window_closes_at(order, reason_code, windows)
    if closes_at is None or now <= closes_at:
        return
    delivered_at = closes_at - windows.for_reason(reason_code)
    kind = "merchant-fault" if is_merchant_fault(reason_code) else "no-reason (buyer-fault)"
    raise EligibilityError(
        "outside_return_window",
        f"{kind} tickets ({reason_code}) can be opened up to "
        f"{describe(windows.for_reason(reason_code))} after delivery; order "
        f"{order.order_id} was delivered on {_utc(delivered_at)} and the window closed on "
        f"{_utc(closes_at)}",
        "reason_code",
    )


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def check_application_limit(
    lines: Sequence[RequestedLine], applications: Mapping[str, int], limit: int
) -> None:
    """A line may be applied for `limit` times in all, whatever became of the earlier tickets.

    `applications` counts, per line, the tickets that ever included it."""
    for index, requested in enumerate(lines):
        used = applications.get(requested.line_id, 0)
        if used >= limit:
            raise EligibilityError(
                "too_many_applications",
                f"line {requested.line_id} has already been applied for {used} time(s); "
                f"at most {limit} applications per line are allowed",
                f"lines[{index}].line_id",
            )
