"""Runs one scenario on a stack of its own and checks the invariants after it."""

from __future__ import annotations

import random
import statistics
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from persistence.models import Ticket
from reliability.checks import invariants
from reliability.harness import Stack, running_stack
from reliability.runs import Run, Scenario
from reliability.traffic import Answers, render


@dataclass
class Result:
    scenario: str
    seed: int
    tickets: int = 0
    faults: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    recovery: float | None = None
    settled_after: float | None = None
    lateness: list[float] = field(default_factory=list)
    provider_refunds: int = 0
    anomalies: list[str] = field(default_factory=list)
    during: str = ""
    took: float = 0.0

    def lateness_text(self) -> str:
        if not self.lateness:
            return "none due"
        late = self.lateness
        return f"{len(late)} fired, median {statistics.median(late):.1f} s, max {max(late):.1f} s"


async def one_creation_per_order(stack: Stack, run: Run) -> list[str]:
    """A creation retried through the fault is still one ticket."""
    order_ids = [flow.order.order_id for flow in run.flows]
    async with stack.sessions() as session:
        counts = (
            await session.execute(
                select(Ticket.order_id, func.count())
                .where(Ticket.order_id.in_(order_ids))
                .group_by(Ticket.order_id)
            )
        ).all()
    return [f"order {order_id}: {n} tickets" for order_id, n in counts if n != 1]


async def run_scenario(scenario: Scenario, seed: int) -> Result:
    result = Result(scenario.name, seed)
    started = time.monotonic()
    rng = random.Random(seed)
    answers = Answers()
    print(f"== {scenario.name}: {scenario.tickets} tickets, seed {seed}", flush=True)
    with tempfile.TemporaryDirectory(prefix="reliability-") as root:
        try:
            async with running_stack(
                Path(root), scenario.env, provider_proxy=scenario.provider_proxy
            ) as stack:
                run = await scenario.body(stack, rng, answers, scenario.tickets)
                result.tickets = len(run.flows)
                result.faults = run.faults
                result.recovery = run.recovery
                outcome = await invariants(stack, run.flows, run.fault_ended)
                result.violations = (
                    run.violations + outcome.violations + await one_creation_per_order(stack, run)
                )
                result.settled_after = outcome.settled_after
                result.lateness = outcome.lateness
                result.provider_refunds = outcome.provider_refunds
        except Exception as error:  # the scenario itself broke: an honest row, not a crash
            result.violations.append(f"scenario failed: {type(error).__name__}: {error}")
            traceback.print_exc()
    result.anomalies = answers.anomalies
    for anomaly in result.anomalies:
        print(f"   refused, retried: {anomaly}", flush=True)
    result.during = render(answers.during)
    if answers.during:
        result.during += f"; longest wait {answers.slowest_during:.1f} s"
    result.took = time.monotonic() - started
    for violation in result.violations:
        print(f"   VIOLATION {violation}", flush=True)
    print(
        f"   {len(result.violations)} violation(s); faults: {'; '.join(result.faults)}; "
        f"recovery {result.recovery}; "
        f"settled {result.settled_after}; {result.provider_refunds} provider refunds; "
        f"deadlines {result.lateness_text()}; "
        f"during the fault: {result.during}; {result.took:.0f} s",
        flush=True,
    )
    return result
