"""The facts merchant rules read, for a ticket that need not exist: one line, as tests want it."""

from __future__ import annotations

from typing import Any

from domain.rules import LineFacts, TicketFacts


def sample_facts(
    *,
    amount: int = 1500,
    quantity: int = 1,
    sku: str = "SKU-L1",
    tags: tuple[str, ...] = ("clearance",),
    reason: str = "no_longer_needed",
    **changed: Any,
) -> TicketFacts:
    """A buyer's ticket on one line of `amount` (tagged `tags`), delivered 2 days ago; `changed`
    sets any other fact."""
    line = LineFacts(
        line_id="L1", sku=sku, tags=list(tags), quantity=quantity, amount=amount, reason=reason
    )
    base = TicketFacts(
        type="return_refund",
        reason=reason,
        fault="buyer",
        requested_amount=amount,
        quoted_amount=amount,
        currency="CNY",
        lines=[line],
        skus=[sku],
        tags=list(tags),
        order_age_days=5,
        shipped=True,
        delivered=True,
        days_since_delivery=2,
        channel="app",
        payment_method="card",
        opened_by="buyer",
        evidence_count=0,
    )
    return base.model_copy(update=changed)


def sent_facts(**changed: Any) -> dict[str, Any]:
    """The same facts as a dry run's body sends them."""
    return sample_facts(**changed).model_dump(
        mode="json", exclude={"risk_level", "risk_reasons", "refunds_90d", "watchlisted"}
    )
