"""The policy a new ticket is opened under, from settings (and later per-merchant overrides)."""

from __future__ import annotations

import hashlib
import json

from activities.contracts import TicketPolicy
from domain.money import default_second_approval_threshold
from domain.refund_terms import RefundPolicy
from settings import Settings


def ticket_policy(settings: Settings, currency: str) -> TicketPolicy:
    money = settings.money
    threshold = money.second_approval_thresholds.get(
        currency, default_second_approval_threshold(currency)
    )
    values = {
        "merchant_review": settings.deadlines.merchant_review,
        "buyer_after_rejection": settings.deadlines.buyer_after_rejection,
        "refund_settlement": settings.deadlines.refund_settlement,
        "refund_status_poll": money.status_poll_interval,
        "second_approval_threshold": threshold,
        "refund_shipping_on_merchant_fault": money.shipping_on_merchant_fault,
    }
    digest = hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()
    return TicketPolicy(version=f"global-{digest[:8]}", **values)


def refund_policy(settings: Settings, currency: str) -> RefundPolicy:
    policy = ticket_policy(settings, currency)
    return RefundPolicy(
        refund_shipping_on_merchant_fault=policy.refund_shipping_on_merchant_fault,
        second_approval_thresholds={currency: policy.second_approval_threshold},
    )
