"""What each caller may see: a ticket that is not yours is simply not found (SPEC §8)."""

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
            return Scope(warehouse_id=subject)
        case _:
            return Scope()


def sees_order(principal: Principal, order: Order) -> bool:
    match principal.role:
        case Role.buyer:
            return order.buyer_id == principal.subject_id
        case Role.merchant:
            return order.merchant_id == principal.subject_id
        case Role.support | Role.platform:
            return True
        case _:
            return False
