"""The actor actions the simulation sends: which actor may send what in which state, with bodies
chosen at random (fees, partial amounts, inspections that pass or fail, expected versions that
are current, stale or absent)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from tests.simulation.records import Row
from tests.simulation.world import MERCHANT, SUPPORT, WAREHOUSE, SimTicket, World


@dataclass(frozen=True)
class Move:
    label: str  # who acts: a client label
    action: str  # `POST /v1/tickets/{no}/<action>`
    body: dict[str, Any]
    key: str | None = None  # Idempotency-Key
    # `expected_version` is deliberately not the ticket's: the action must never be taken.
    stale: bool = False

    def text(self) -> str:
        key = f" key={self.key}" if self.key else ""
        return f"{self.label} {self.action} {self.body}{key}"

    def keyed(self, world: World) -> Move:
        return replace(self, key=f"sim-{world.rng.randrange(16**12):012x}")


Maker = Callable[[World, SimTicket, Row], Move]


def _versioned(world: World, row: Row, label: str, action: str, body: dict[str, Any]) -> Move:
    """Sometimes the version acted on: current, or behind (someone acted first), or none."""
    roll = world.rng.random()
    if roll < 0.3:
        return Move(label, action, {**body, "expected_version": row.version})
    if roll < 0.45:
        return Move(
            label, action, {**body, "expected_version": max(row.version - 1, 0)}, stale=True
        )
    if roll < 0.5:
        return Move(label, action, {**body, "expected_version": row.version + 1}, stale=True)
    return Move(label, action, body)


def approve(world: World, ticket: SimTicket, row: Row) -> Move:
    body: dict[str, Any] = {"note": "ok"}
    if not ticket.merchant_fault and world.rng.random() < 0.4:
        body["service_fee"] = world.rng.randrange(0, max(ticket.quoted // 10, 1))
    return _versioned(world, row, MERCHANT, "approve", body)


def reject(world: World, ticket: SimTicket, row: Row) -> Move:
    return _versioned(world, row, MERCHANT, "reject", {"reason_code": "used_goods"})


def merchant_escalates(world: World, ticket: SimTicket, row: Row) -> Move:
    return Move(MERCHANT, "escalate", {"reason": "the buyer's story does not add up"})


def buyer_escalates(world: World, ticket: SimTicket, row: Row) -> Move:
    return Move(ticket.buyer, "escalate", {"reason": "this is not what was agreed"})


def cancel(world: World, ticket: SimTicket, row: Row) -> Move:
    return Move(ticket.buyer, "cancel", {})


def ship_back(world: World, ticket: SimTicket, row: Row) -> Move:
    return Move(
        ticket.buyer, "return-shipment", {"carrier": "SF", "tracking_no": ticket.parcel_code()}
    )


def inspect(world: World, ticket: SimTicket, row: Row) -> Move:
    rejected = 1 if world.rng.random() < 0.35 else 0  # one unit of the first line
    lines = [
        {"line_id": line_id, "accepted": qty - rejected, "rejected": rejected}
        if index == 0
        else {"line_id": line_id, "accepted": qty, "rejected": 0}
        for index, (line_id, qty) in enumerate(ticket.lines.items())
    ]
    return Move(WAREHOUSE, "inspection", {"lines": lines, "note": "checked"})


def _partial(world: World, ticket: SimTicket) -> int:
    return max(1, ticket.quoted * world.rng.randrange(20, 90) // 100)


def resolve(world: World, ticket: SimTicket, row: Row) -> Move:
    if world.rng.random() < 0.6:
        body = {"decision": "partial_refund", "amount": _partial(world, ticket)}
        return Move(MERCHANT, "resolve-inspection", body)
    return Move(MERCHANT, "resolve-inspection", {"decision": "return_to_buyer"})


def reship(world: World, ticket: SimTicket, row: Row) -> Move:
    return Move(MERCHANT, "reship", {"carrier": "YTO", "tracking_no": f"YT-{ticket.ticket_no}"})


def confirm(world: World, ticket: SimTicket, row: Row) -> Move:
    return Move(ticket.buyer, "confirm-receipt", {})


def arbitrate(world: World, ticket: SimTicket, row: Row) -> Move:
    decision = world.pick(["refund", "refund", "partial_refund", "reject", "return_to_buyer"])
    body: dict[str, Any] = {"decision": decision, "note": "support decided"}
    if decision == "partial_refund":
        body["amount"] = _partial(world, ticket)
    return Move(SUPPORT, "arbitrate", body)


def second_approval(world: World, ticket: SimTicket, row: Row) -> Move:
    decision = "approve" if world.rng.random() < 0.7 else "decline"
    return _versioned(world, row, SUPPORT, "second-approval", {"decision": decision})


def retry_refund(world: World, ticket: SimTicket, row: Row) -> Move:
    body: dict[str, Any] = {"note": "sent again"}
    if world.rng.random() < 0.3:
        body["destination"] = "balance"
    return _versioned(world, row, SUPPORT, "retry-refund", body)


# state -> the actions its actors may take there (domain/actions.py, as a caller sees it).
MOVES: dict[str, tuple[Maker, ...]] = {
    "awaiting_merchant_review": (approve, approve, approve, reject, merchant_escalates, cancel),
    "awaiting_second_approval": (second_approval,),
    "awaiting_buyer_return": (ship_back, ship_back, ship_back, cancel),
    "return_in_transit": (inspect, buyer_escalates),
    "awaiting_inspection": (inspect,),
    "inspection_failed": (resolve, resolve, merchant_escalates, buyer_escalates),
    "awaiting_reship": (reship, reship, buyer_escalates),
    "replacement_in_transit": (confirm, confirm, buyer_escalates),
    "rejected": (buyer_escalates, buyer_escalates, cancel),
    "under_arbitration": (arbitrate,),
    "refund_failed": (retry_refund,),
}
# In a fixed order, so that a seed picks the same move in every run.
EVERY_MOVE = tuple(dict.fromkeys(maker for makers in MOVES.values() for maker in makers))


def legal_moves(world: World, ticket: SimTicket, row: Row) -> list[Move]:
    return [make(world, ticket, row) for make in MOVES.get(row.status, ())]


def any_move(world: World, ticket: SimTicket, row: Row) -> Move:
    """An action of any state: most often one the ticket's state refuses."""
    return world.pick(list(EVERY_MOVE))(world, ticket, row)
