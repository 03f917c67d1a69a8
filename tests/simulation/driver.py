"""The seeded driver: step after step, a kind of step drawn by weight from what the world allows,
the world brought to rest, every invariant checked; the first violation stops the run with the
seed that reproduces it.

A seed fixes every choice the driver makes (which step, which ticket, which action and body).
The engine's own races (which of two actions sent at once wins) are not the driver's to fix,
so a replayed seed follows the same path until a race goes the other way; the log of the steps
up to a failure shows the path it took.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tests.simulation import outside, steps
from tests.simulation.answers import Sent, answer_violations, effect_violations
from tests.simulation.clock import Clock
from tests.simulation.invariants import EndedTickets, deadline_violations
from tests.simulation.money import money_violations
from tests.simulation.records import Row
from tests.simulation.settle import Settler, Unsettled
from tests.simulation.world import World
from tests.support.stack import Stack

Step = Callable[[steps.Context], Awaitable[steps.Outcome]]


class SimulationFailed(AssertionError):
    pass


@dataclass(frozen=True)
class Summary:
    steps: Counter[str]
    statuses: Counter[str]
    events: Counter[str]
    tickets: int
    log: list[str] = field(repr=False)


class Simulation:
    def __init__(self, stack: Stack, *, seed: int, steps: int, tickets: int) -> None:
        self.seed, self.steps, self.max_tickets = seed, steps, tickets
        self.world = World(stack, random.Random(seed))
        self.clock = Clock(stack.temporal)
        self.settler = Settler(self.world, self.clock)
        self.ended = EndedTickets(self.world)
        self.replays: list[Sent] = []
        self.ran: Counter[str] = Counter()

    def _weights(self, ctx: steps.Context, number: int) -> dict[str, tuple[float, Step]]:
        # Tickets open all through the run, so that lifecycles overlap to its end.
        opening = 12.0 * ctx.room / (self.steps - number + 1) if ctx.room > 0 else 0.0
        acting = bool(ctx.open_tickets(acting=True))
        return {
            "open": (opening, steps.open_ticket),
            "apply again": (opening / 3 if steps.reapplicable(ctx) else 0.0, steps.apply_for_again),
            "act": (8.0 if acting else 0.0, steps.act),
            "race": (3.0 if acting else 0.0, steps.race),
            "probe": (0.7 if self.world.tickets else 0.0, steps.probe),
            "replay": (0.5 if self.replays else 0.0, steps.replay),
            "courier": (3.0 if outside.on_the_road(ctx) else 0.0, outside.courier_moves),
            "courier races": (2.0 if outside.in_transit(ctx) else 0.0, outside.courier_races),
            "scan": (0.7 if any(t.tracking_no for t in self.world.tickets.values()) else 0.0,
                     outside.scan),
            "provider": (1.0 if ctx.open_tickets() else 0.0, outside.provider_rule),
            "jump": (1.0 if self.world.tickets else 0.0, outside.jump),
            "race the clock": (0.7 if acting else 0.0, outside.race_the_clock),
        }  # fmt: skip

    async def run(self) -> Summary:
        rows: dict[str, Row] = {}
        try:
            for number in range(1, self.steps + 1):
                rows = await self._step(number, rows)
        finally:
            await self.world.aclose()
        return Summary(
            steps=self.ran,
            statuses=Counter(row.status for row in rows.values()),
            events=Counter(e.event for row in rows.values() for e in row.entries),
            tickets=len(self.world.tickets),
            log=self.world.log,
        )

    async def _step(self, number: int, rows: dict[str, Row]) -> dict[str, Row]:
        room = self.max_tickets - len(self.world.tickets)
        ctx = steps.Context(self.world, self.settler, self.clock, rows, self.replays, room)
        weighted = [
            (name, w, step) for name, (w, step) in self._weights(ctx, number).items() if w > 0
        ]
        names = [name for name, _, _ in weighted]
        name = self.world.rng.choices(names, [w for _, w, _ in weighted])[0]
        step = next(step for n, _, step in weighted if n == name)
        self.ran[name] += 1
        try:
            outcome = await step(ctx)
            self.world.note(number, outcome.text)
            after = await self.settler.settle()
        except Unsettled as stuck:
            raise self._failure(number, [str(stuck)]) from None
        except Exception as error:  # any crash of a step is reported with its seed
            self.world.note(number, f"{name} crashed")
            raise self._failure(number, [f"{type(error).__name__}: {error}"]) from error
        found = outcome.violations + self.settler.findings
        self.settler.findings = []
        for sent in outcome.sents:
            if sent.ticket_no in rows:
                found += answer_violations(sent, rows[sent.ticket_no])
        for ticket_no in {sent.ticket_no for sent in outcome.sents}:
            if ticket_no in rows:
                mine = [sent for sent in outcome.sents if sent.ticket_no == ticket_no]
                found += effect_violations(mine, rows[ticket_no], after[ticket_no])
        for later in outcome.later:
            found += await later(after)
        found += deadline_violations(after, self.settler.rested_at)
        found += await self.ended.violations(after)
        found += await money_violations(self.world, after)
        if found:
            raise self._failure(number, found)
        return after

    def _failure(self, number: int, violations: list[str]) -> SimulationFailed:
        listed = "\n".join(f"  - {v}" for v in violations)
        last = "\n".join(self.world.log[-25:])
        return SimulationFailed(
            f"lifecycle simulation failed at step {number} of {self.steps} "
            f"(seed {self.seed}); reproduce with\n"
            f"  SIMULATION_SEED={self.seed} SIMULATION_STEPS={self.steps} "
            f"SIMULATION_TICKETS={self.max_tickets} pytest tests/simulation\n"
            f"violations:\n{listed}\nlast steps:\n{last}"
        )
