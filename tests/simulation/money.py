"""The invariants of money, checked on a world at rest after every step: no refund executed twice
at the provider, refunds per order never above what was paid, and the ledger (refunds, balance
credits, coupons), the orders' and tickets' totals, the timeline and the provider agree."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from domain.events import TicketEvent
from domain.tickets import RefundStatus, refund_idempotency_key
from persistence.models import Refund
from tests.simulation.records import Ledger, Row, read_ledger
from tests.simulation.world import SimOrder, World
from tests.support.sandbox_state import ProviderMovement, provider_movements

# Money that never reached the provider: awaiting a second approver, or declined by one.
UNSENT = frozenset({RefundStatus.granted, RefundStatus.voided})
# Destinations the engine pays itself, in its own ledger.
OUTSIDE_PROVIDER = ("balance", "coupon")


async def money_violations(world: World, rows: dict[str, Row]) -> list[str]:
    ledger = await read_ledger(world.stack.sessions, list(world.orders))
    references = {o.reference for o in world.orders.values()} | set(world.orders)
    movements = [
        m for m in provider_movements(world.stack.settings.data_dir) if m.reference in references
    ]
    return (
        provider_violations(ledger, movements)
        + cap_violations(world.orders.values(), ledger, movements)
        + booking_violations(ledger, rows)
    )


def provider_violations(ledger: Ledger, movements: list[ProviderMovement]) -> list[str]:
    found = []
    by_key: dict[str, list[ProviderMovement]] = defaultdict(list)
    for movement in movements:
        by_key[movement.idempotency_key].append(movement)
    known = set()
    for refund in ledger.refunds:
        key = refund.idempotency_key
        known.add(key)
        what = f"refund {key} ({refund.destination}, {refund.status}, {refund.amount})"
        if key != refund_idempotency_key(refund.ticket_no, refund.seq):
            found.append(f"{what}: key not derived from ticket and sequence")
        made = by_key.get(key, [])
        if refund.status in UNSENT or refund.destination in OUTSIDE_PROVIDER:
            if made:
                found.append(f"{what}: yet the provider made {[m.id for m in made]}")
            found += _credited(ledger, refund, what)
            continue
        if len(made) != 1:
            found.append(f"{what}: the provider made {len(made)} refunds under its key")
            continue
        [at_provider] = made
        ours = (refund.provider_refund_id, refund.amount, refund.currency, refund.status)
        theirs = (at_provider.id, at_provider.amount, at_provider.currency, at_provider.status)
        if ours != theirs:
            found.append(f"{what}: ledger {ours} but provider {theirs}")
    for key, made in by_key.items():
        if key not in known:
            found.append(
                f"the provider made {[m.id for m in made]} under {key}, unknown to the ledger"
            )
    return found


def _credited(ledger: Ledger, refund: Refund, what: str) -> list[str]:
    """A balance or coupon refund that succeeded is one credit or coupon of its amount."""
    if refund.status != RefundStatus.succeeded or refund.destination not in OUTSIDE_PROVIDER:
        return []
    if refund.destination == "balance":
        amounts = [credit.amount for credit in ledger.credits.get(refund.idempotency_key, [])]
    else:
        amounts = [coupon.amount for coupon in ledger.coupons.get(refund.refund_id, [])]
    return [] if amounts == [refund.amount] else [f"{what}: credited {amounts}"]


def cap_violations(
    orders: Iterable[SimOrder], ledger: Ledger, movements: list[ProviderMovement]
) -> list[str]:
    found = []
    succeeded = [r for r in ledger.refunds if r.status == RefundStatus.succeeded]
    per_ticket = Counter(r.ticket_no for r in succeeded)
    found += [f"{no}: {n} refunds succeeded" for no, n in per_ticket.items() if n > 1]
    for order in orders:
        ours = sum(r.amount for r in succeeded if r.order_id == order.order_id)
        theirs = sum(
            m.amount
            for m in movements
            if m.status == RefundStatus.succeeded
            and m.reference in (order.reference, order.order_id)
        )
        if max(ours, theirs) > order.paid_total:
            paid = order.paid_total
            found.append(f"order {order.order_id}: refunded {ours} (provider {theirs}) of {paid}")
    return found


def booking_violations(ledger: Ledger, rows: dict[str, Row]) -> list[str]:
    """Orders' and tickets' refunded totals are their succeeded refunds; each refund that
    succeeded was settled in the ticket's timeline (one reversed before the ticket heard of its
    success may lack it)."""
    found = []
    succeeded = [r for r in ledger.refunds if r.status == RefundStatus.succeeded]
    for order_id, booked in ledger.refunded_totals.items():
        total = sum(r.amount for r in succeeded if r.order_id == order_id)
        if booked != total:
            found.append(f"order {order_id}: refunded_total {booked}, succeeded refunds {total}")
    for no, row in rows.items():
        total = sum(r.amount for r in succeeded if r.ticket_no == no)
        if row.refunded_amount != total:
            found.append(f"{no}: refunded_amount {row.refunded_amount}, succeeded refunds {total}")
        statuses = Counter(r.status for r in ledger.refunds if r.ticket_no == no)
        paid, back = statuses[RefundStatus.succeeded], statuses[RefundStatus.reversed]
        settled = sum(1 for entry in row.entries if entry.event == TicketEvent.refund_settled)
        if not paid <= settled <= paid + back:
            found.append(f"{no}: {settled} settled in the timeline, refunds {dict(statuses)}")
    return found
