"""Which tickets and orders each caller reaches at all: one that is not yours is simply not found
(SPEC §8). What it sees of those it reaches is `api.visibility`."""

from __future__ import annotations

from api.auth import Principal, Role
from persistence.models import Order
from persistence.tickets import Scope


def ticket_scope(principal: Principal) -> Scope:
    subject = principal.subject_id or ""
    match principal.role:
        case Role.buyer:
            return Scope(buyer_id=subject)
        case Role.merchant:
            return Scope(merchant_id=subject)
        case Role.warehouse:
            # The returns sent to it; none before the merchant names the warehouse.
            return Scope(warehouse_id=subject)
        case Role.support:
            # Support decides disputes on any ticket (SPEC §1: "all tickets").
            return Scope()
        case Role.platform:
            # The marketplace's order system sent every order here and follows each one's
            # after-sales status and refunds, so it reaches every ticket, but sees only the
            # integration parts of it (status, amounts, lines, refunds; api.visibility).
            return Scope()


def sees_order(principal: Principal, order: Order) -> bool:
    match principal.role:
        case Role.buyer:
            return order.buyer_id == principal.subject_id
        case Role.merchant:
            return order.merchant_id == principal.subject_id
        case Role.support | Role.platform:
            return True
        case Role.warehouse:
            # A return's items reach the warehouse with its scan; orders are none of its business.
            return False
