"""Buyers opening tickets of every type on fresh orders, and applying again after a refusal.

Each kind is an order the platform sends and the application its buyer makes; a fresh buyer
has no history, so risk comes only from the watchlist kind.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from tests.simulation.world import PLATFORM, SUPPORT, SimOrder, SimTicket, World
from tests.support.orders import application, buyer_id, line, new_order_id, order_body
from tests.support.tickets import recently


class OpeningFailed(AssertionError):
    """The API refused an application the rules allow."""


@dataclass(frozen=True)
class Kind:
    name: str
    type: str
    order_status: str  # paid, shipped or delivered
    reasons: tuple[str, ...]
    lines: tuple[tuple[str, int, int], ...] = (("L1", 2, 1500), ("L2", 1, 800))
    shipping: int = 500
    watched: bool = False
    # Two tickets at once on one order, one per line.
    split: bool = False
    # How often a buyer opens this kind, relative to the others.
    weight: float = 1.0


KINDS = (
    Kind("before_shipment", "refund_only", "paid", ("no_longer_needed",), weight=0.6),
    Kind(
        "split_before_shipment",
        "refund_only",
        "paid",
        ("no_longer_needed",),
        split=True,
        weight=0.5,
    ),
    Kind(
        "large_before_shipment",
        "refund_only",
        "paid",
        ("other",),
        (("L1", 1, 600000),),
        weight=0.5,
    ),
    Kind(
        "shipped_refund",
        "refund_only",
        "shipped",
        ("damaged_in_transit", "lost_in_transit", "no_longer_needed"),
    ),
    Kind(
        "return",
        "return_refund",
        "delivered",
        ("no_longer_needed", "wrong_size_or_model", "quality_issue", "not_as_described"),
        weight=2.0,
    ),
    Kind(
        "split_return",
        "return_refund",
        "delivered",
        ("no_longer_needed", "damaged_in_transit"),
        split=True,
        weight=0.7,
    ),
    Kind("exchange", "exchange", "delivered", ("wrong_size_or_model", "quality_issue"), weight=1.5),
    Kind(
        "watched_return",
        "return_refund",
        "delivered",
        ("no_longer_needed",),
        watched=True,
        weight=0.5,
    ),
)
DESTINATIONS = ("original", "original", "original", "balance", "coupon")


async def open_kind(world: World, kind: Kind) -> list[SimTicket]:
    """A fresh buyer's order of this kind and the ticket(s) on it."""
    stack, rng = world.stack, world.rng
    buyer = await stack.new_buyer()
    if kind.watched:
        listed = await world.client(SUPPORT).put(
            f"/v1/watchlist/{buyer_id(buyer)}", json={"reason": "simulated fraud ring"}
        )
        if listed.status_code != 200:
            raise OpeningFailed(f"watchlist: {listed.status_code} {listed.text}")
    order = await _send_order(world, kind, buyer, method=world.pick(["wallet", "card"]))
    reason = world.pick(list(kind.reasons))
    extra: dict[str, Any] = {}
    if kind.type == "refund_only" and not kind.split:
        extra["destination"] = world.pick(list(DESTINATIONS))
    if kind.order_status == "shipped" and rng.random() < 0.3:
        extra["requested_amount"] = 1000
    if kind.split:
        return list(
            await asyncio.gather(
                *(
                    _apply(world, kind, order, {line_id: qty}, reason, extra)
                    for line_id, qty in order.lines.items()
                )
            )
        )
    return [await _apply(world, kind, order, dict(order.lines), reason, extra)]


async def apply_again(world: World, earlier: SimTicket) -> SimTicket:
    """The buyer applies again for what an ended or rejected ticket covered."""
    kind = next(k for k in KINDS if k.name == earlier.kind)
    return await _apply(world, kind, earlier.order, earlier.lines, earlier.reason_code, {})


async def _send_order(world: World, kind: Kind, buyer: str, method: str) -> SimOrder:
    lines = [line(line_id, qty, price) for line_id, qty, price in kind.lines]
    options: dict[str, Any] = {"status": kind.order_status, "shipping": kind.shipping}
    if kind.order_status == "delivered":
        options["delivered_at"] = recently()
    body = order_body(lines, buyer=buyer_id(buyer), method=method, **options)
    order_id = new_order_id("SIM")
    sent = await world.client(PLATFORM).put(f"/v1/orders/{order_id}", json=body)
    if sent.status_code not in (200, 201):
        raise OpeningFailed(f"order {order_id}: {sent.status_code} {sent.text}")
    order = SimOrder(
        order_id=order_id,
        buyer=buyer,
        reference=body["payment"]["reference"],
        paid_total=body["payment"]["paid_total"],
        lines={line_id: qty for line_id, qty, _ in kind.lines},
        shipped=kind.order_status != "paid",
    )
    world.orders[order_id] = order
    return order


async def _apply(
    world: World,
    kind: Kind,
    order: SimOrder,
    lines: dict[str, int],
    reason: str,
    extra: dict[str, Any],
) -> SimTicket:
    body = application(order.order_id, *lines.items(), reason_code=reason, type=kind.type, **extra)
    created = await world.client(order.buyer).post("/v1/tickets", json=body)
    if created.status_code != 201:
        raise OpeningFailed(
            f"{kind.name} on {order.order_id}: {created.status_code} {created.text}"
        )
    answer = created.json()
    ticket = SimTicket(
        ticket_no=answer["ticket_no"],
        kind=kind.name,
        type=kind.type,
        order=order,
        reason_code=reason,
        lines=lines,
        quoted=answer["quoted_amount"],
    )
    world.tickets[ticket.ticket_no] = ticket
    return ticket
