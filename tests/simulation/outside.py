"""The steps of the world around the actors: the courier moving parcels (alone, or just as an
actor acts), the warehouse scanning them, the payment provider told how to answer, and the
clock jumping, alone or while an actor acts at the moment the ticket's deadline falls.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from api.services.scans import outcome_for
from domain.tickets import TicketStatus
from tests.simulation import moves
from tests.simulation.answers import send
from tests.simulation.invariants import jump_violations
from tests.simulation.records import Row
from tests.simulation.steps import Context, Later, Outcome
from tests.simulation.world import COURIER, PROVIDER, WAREHOUSE, SimTicket

# Jumps that land between and beyond the deadlines and reminders of SPEC §3.
JUMPS = tuple(timedelta(hours=h) for h in (3, 12, 23, 26, 47, 49, 72, 170, 250))
COURIER_EVENTS = ("picked_up", "in_transit", "exception", "delivered", "delivered", "lost")
PROVIDER_RULES = ("fail", "fail", "reverse_after_success", "http_503")
SHIPS_A_PARCEL = "return-shipment"
# Where the parcel is that the warehouse holds: expected, or not (any more).
AT_THE_DOOR = frozenset({TicketStatus.return_in_transit, TicketStatus.awaiting_inspection})


def on_the_road(ctx: Context) -> list[SimTicket]:
    return [t for t in ctx.world.tickets.values() if t.tracking_no and not t.parcel_final]


async def courier_moves(ctx: Context) -> Outcome:
    ticket = ctx.world.pick(on_the_road(ctx))
    return await _courier_scans(ctx, ticket, ctx.world.pick(list(COURIER_EVENTS)))


def in_transit(ctx: Context) -> list[SimTicket]:
    return [
        t
        for t in on_the_road(ctx)
        if ctx.rows[t.ticket_no].status == TicketStatus.return_in_transit
    ]


async def courier_races(ctx: Context) -> Outcome:
    """The courier's last word on a parcel comes just as an actor acts on its ticket: the
    warehouse inspects it, or the buyer escalates, while it is reported delivered or lost."""
    ticket = ctx.world.pick(in_transit(ctx))
    move = ctx.world.pick(moves.legal_moves(ctx.world, ticket, ctx.rows[ticket.ticket_no]))
    status = ctx.world.pick(["delivered", "lost"])
    sent, scanned = await asyncio.gather(
        send(ctx.world, ticket, move), _courier_scans(ctx, ticket, status)
    )
    # Whichever came first decides; the action's answer and the invariants say the rest.
    return Outcome(f"{scanned.text} | {sent.text()}", [sent], scanned.violations)


async def _courier_scans(ctx: Context, ticket: SimTicket, status: str) -> Outcome:
    assert ticket.tracking_no is not None
    path = f"/control/parcels/{ticket.tracking_no}/events"
    answer = await ctx.world.client(COURIER).post(path, json={"status": status, "carrier": "sf"})
    before = ctx.rows[ticket.ticket_no]
    outcome = Outcome(
        f"{ticket.ticket_no} {before.status}: courier {status} -> {answer.status_code}"
    )
    if answer.status_code == 409:  # the parcel was delivered or lost already
        ticket.parcel_final = True
    elif answer.status_code != 201:
        outcome.violations.append(f"{outcome.text}: {answer.text}")
    elif status in ("delivered", "lost"):
        ticket.parcel_final = True
        if before.status == TicketStatus.return_in_transit:
            outcome.later.append(_parcel_acted_on(ticket.ticket_no, status))
    return outcome


def _parcel_acted_on(ticket_no: str, status: str) -> Later:
    async def check(rows: dict[str, Row]) -> list[str]:
        now = rows[ticket_no].status
        if status == "delivered":
            acted = now == TicketStatus.awaiting_inspection
        else:
            acted = now != TicketStatus.return_in_transit
        return [] if acted else [f"{ticket_no}: the parcel was {status}, the ticket is {now}"]

    return check


async def scan(ctx: Context) -> Outcome:
    """A warehouse scan, most often of a parcel that is expected."""
    shipped = [t for t in ctx.world.tickets.values() if t.tracking_no]
    expected = [t for t in shipped if ctx.rows[t.ticket_no].status in AT_THE_DOOR]
    ticket = ctx.world.pick(expected if expected and ctx.world.rng.random() < 0.7 else shipped)
    before = ctx.rows[ticket.ticket_no]
    code = ticket.tracking_no if ctx.world.rng.random() < 0.7 else ticket.ticket_no
    answer = await ctx.world.client(WAREHOUSE).post("/v1/warehouse/scans", json={"code": code})
    outcome = Outcome(f"{ticket.ticket_no} {before.status}: scan {code} -> {answer.status_code}")
    if answer.status_code != 200:
        outcome.violations.append(f"{outcome.text}: {answer.text}")
        return outcome
    inspected = any(e.event in ("inspection_passed", "inspection_failed") for e in before.entries)
    should = outcome_for(TicketStatus(before.status), inspected)
    said = answer.json()["outcome"]
    outcome.text += f" {said}"
    if said != should:
        outcome.violations.append(f"{outcome.text}: expected {should} for {before.status}")
    if before.status == TicketStatus.return_in_transit:
        outcome.later.append(_parcel_acted_on(ticket.ticket_no, "delivered"))
    return outcome


async def provider_rule(ctx: Context) -> Outcome:
    """The provider is told how to answer this order's next refund."""
    ticket = ctx.world.pick(ctx.open_tickets())
    rule = ctx.world.pick(list(PROVIDER_RULES))
    body = {"match_payment_reference": ticket.order.reference, "outcome": rule, "times": 1}
    answer = await ctx.world.client(PROVIDER).post("/v1/control/rules", json=body)
    ticket.order.may_reverse |= rule == "reverse_after_success"
    outcome = Outcome(f"{ticket.ticket_no}: provider will {rule} -> {answer.status_code}")
    if answer.status_code != 201:
        outcome.violations.append(f"{outcome.text}: {answer.text}")
    return outcome


async def _to_rest_for_a_jump(ctx: Context, outcome: Outcome) -> dict[str, Row]:
    """A running activity holds the time-skipping server's clock: the courier first brings every
    parcel on the road to its end (the parcel poll ends with it), then no activity may run."""
    for ticket in on_the_road(ctx):
        status = "delivered" if ctx.world.rng.random() < 0.8 else "lost"
        moved = await _courier_scans(ctx, ticket, status)
        outcome.violations += moved.violations
        outcome.text += moved.text + "; "
    return await ctx.settler.settle(idle=True)


def _across(
    ctx: Context, before: dict[str, Row], ended: datetime, acted: str | None = None
) -> Later:
    async def check(rows: dict[str, Row]) -> list[str]:
        return jump_violations(before, rows, ended, ctx.settler.rested_at, acted)

    return check


async def jump(ctx: Context) -> Outcome:
    outcome = Outcome("")
    before = await _to_rest_for_a_jump(ctx, outcome)
    duration = ctx.world.pick(list(JUMPS))
    ended = await ctx.clock.jump(duration)
    outcome.text += f"clock jumps {duration}"
    outcome.later.append(_across(ctx, before, ended))
    return outcome


async def race_the_clock(ctx: Context) -> Outcome:
    """An actor acts just as the ticket's deadline falls: the action or the deadline, not both."""
    outcome = Outcome("")
    before = await _to_rest_for_a_jump(ctx, outcome)
    waiting = [
        (t, move)
        for t in ctx.world.tickets.values()
        if before[t.ticket_no].open and before[t.ticket_no].deadline_at is not None
        for move in moves.legal_moves(ctx.world, t, before[t.ticket_no])
        # A parcel on the road is polled by a running activity, which holds the clock.
        if move.action != SHIPS_A_PARCEL
    ]
    if not waiting:
        outcome.text += "no deadline to race"
        return outcome
    ticket, move = ctx.world.pick(waiting)
    row = before[ticket.ticket_no]
    assert row.deadline_at is not None
    duration = (
        row.deadline_at - await ctx.clock.now() + timedelta(seconds=ctx.world.rng.randrange(60))
    )
    sent, ended = await asyncio.gather(send(ctx.world, ticket, move), ctx.clock.jump(duration))
    outcome.text += f"{ticket.ticket_no} {row.status}: {sent.text()} as the clock jumps {duration}"
    outcome.sents.append(sent)
    outcome.later.append(_across(ctx, before, ended, acted=ticket.ticket_no))
    return outcome
