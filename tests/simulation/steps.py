"""The steps of the simulation in which actors act: buyers opening tickets and applying again,
actions sent alone, two at once, in the wrong state, and again under the same key.

A step starts from a world at rest (`Context.rows`) and returns what it sent and what to check
once the world is at rest again; `outside.py` holds the steps of the world around the actors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from tests.simulation import moves
from tests.simulation.answers import Sent, effect_violations, send
from tests.simulation.clock import Clock
from tests.simulation.opening import KINDS, OpeningFailed, apply_again, open_kind
from tests.simulation.records import Row
from tests.simulation.settle import Settler
from tests.simulation.world import SimTicket, World

Later = Callable[[dict[str, Row]], Awaitable[list[str]]]


@dataclass
class Outcome:
    text: str
    sents: list[Sent] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    later: list[Later] = field(default_factory=list)


@dataclass(frozen=True)
class Context:
    world: World
    settler: Settler
    clock: Clock
    rows: dict[str, Row]  # the tickets' rows at rest before the step
    replays: list[Sent]  # actions taken under a key, to send again
    room: int  # tickets the run may still open

    def open_tickets(self, *, acting: bool = False) -> list[SimTicket]:
        world, rows = self.world, self.rows
        return [
            t
            for no, t in world.tickets.items()
            if rows[no].open and (not acting or rows[no].status in moves.MOVES)
        ]


async def open_ticket(ctx: Context) -> Outcome:
    kinds = [kind for kind in KINDS if ctx.room >= (2 if kind.split else 1)]
    kind = ctx.world.rng.choices(kinds, [kind.weight for kind in kinds])[0]
    try:
        opened = await open_kind(ctx.world, kind)
    except OpeningFailed as refused:
        return Outcome(f"open {kind.name}", violations=[str(refused)])
    return Outcome(f"open {kind.name}: " + ", ".join(t.ticket_no for t in opened))


def reapplicable(ctx: Context) -> list[SimTicket]:
    """The last ticket of orders whose every ticket was refused without money, with applications
    left (SPEC §2: at most 3 per line)."""
    found = []
    for ticket in ctx.world.tickets.values():
        siblings = [t for t in ctx.world.tickets.values() if t.order is ticket.order]
        refused = all(
            ctx.rows[t.ticket_no].status in ("rejected", "cancelled", "closed")
            and ctx.rows[t.ticket_no].refunded_amount == 0
            for t in siblings
        )
        if refused and len(siblings) < 3 and ticket.order.shipped and ticket is siblings[-1]:
            found.append(ticket)
    return found


async def apply_for_again(ctx: Context) -> Outcome:
    earlier = ctx.world.pick(reapplicable(ctx))
    try:
        again = await apply_again(ctx.world, earlier)
    except OpeningFailed as refused:
        return Outcome(f"apply again after {earlier.ticket_no}", violations=[str(refused)])
    return Outcome(f"apply again after {earlier.ticket_no}: {again.ticket_no}")


async def act(ctx: Context) -> Outcome:
    ticket = ctx.world.pick(ctx.open_tickets(acting=True))
    row = ctx.rows[ticket.ticket_no]
    move = ctx.world.pick(moves.legal_moves(ctx.world, ticket, row))
    if ctx.world.rng.random() < 0.3:
        move = move.keyed(ctx.world)
    sent = await send(ctx.world, ticket, move)
    if sent.taken and move.key:
        ctx.replays.append(sent)
    return Outcome(f"{ticket.ticket_no} {row.status}: {sent.text()}", [sent])


async def race(ctx: Context) -> Outcome:
    """Two actions at once: two of the state's actions, one sent twice (under one key), or one on
    each of two tickets of one order (their refunds share the order's caps)."""
    world = ctx.world
    ticket = world.pick(ctx.open_tickets(acting=True))
    row = ctx.rows[ticket.ticket_no]
    siblings = [
        t for t in ctx.open_tickets(acting=True) if t.order is ticket.order and t is not ticket
    ]
    other_ticket = world.pick(siblings) if siblings and world.rng.random() < 0.6 else ticket
    one = world.pick(moves.legal_moves(world, ticket, row))
    other = world.pick(moves.legal_moves(world, other_ticket, ctx.rows[other_ticket.ticket_no]))
    roll = world.rng.random()
    if other_ticket is ticket and roll < 0.25:
        one = other = one.keyed(world)
    elif other_ticket is ticket and roll < 0.4:
        other = one
    sents = await asyncio.gather(send(world, ticket, one), send(world, other_ticket, other))
    text = " | ".join(f"{sent.ticket_no} {sent.text()}" for sent in sents)
    return Outcome(f"{row.status} at once: {text}", list(sents))


async def probe(ctx: Context) -> Outcome:
    """An action of another state (or on an ended ticket): refused, or taken if legal after all."""
    ticket = ctx.world.pick(list(ctx.world.tickets.values()))
    row = ctx.rows[ticket.ticket_no]
    sent = await send(ctx.world, ticket, moves.any_move(ctx.world, ticket, row))
    return Outcome(f"{ticket.ticket_no} {row.status} probe: {sent.text()}", [sent])


async def replay(ctx: Context) -> Outcome:
    """An action taken under a key, sent again: the same body answers as before, another body
    is refused (422 `idempotency_key_reused`); neither changes anything."""
    earlier = ctx.world.pick(ctx.replays)
    ticket = ctx.world.tickets[earlier.ticket_no]
    before = ctx.rows[ticket.ticket_no]
    if ctx.world.rng.random() < 0.7:
        sent = await send(ctx.world, ticket, earlier.move)
        outcome = Outcome(f"{ticket.ticket_no} again: {sent.text()}", [sent])
        if not (sent.status == 200 and sent.replayed):
            outcome.violations.append(f"{sent.text()}: a replay must answer as before")
        return outcome
    other = replace(earlier.move, body={**earlier.move.body, "note": "another body"})
    sent = await send(ctx.world, ticket, other)
    outcome = Outcome(f"{ticket.ticket_no} again, another body: {sent.text()}")
    if (sent.status, sent.code) != (422, "idempotency_key_reused"):
        outcome.violations.append(f"{sent.text()}: a key reused with another body must be 422")

    async def unchanged(rows: dict[str, Row]) -> list[str]:
        return effect_violations([sent], before, rows[ticket.ticket_no])

    outcome.later.append(unchanged)
    return outcome
