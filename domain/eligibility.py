"""Who may open which ticket on which order lines (SPEC §2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from domain.orders import OrderSnapshot, OrderStatus
from domain.refund_terms import PriorRefunds, RequestedLine
from domain.tickets import TicketType

_ALLOWED_ORDER_STATUSES: Mapping[TicketType, frozenset[OrderStatus]] = {
    TicketType.refund_only: frozenset(OrderStatus),
    TicketType.return_refund: frozenset(
        {OrderStatus.shipped, OrderStatus.delivered, OrderStatus.completed}
    ),
    TicketType.exchange: frozenset({OrderStatus.delivered, OrderStatus.completed}),
}


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
