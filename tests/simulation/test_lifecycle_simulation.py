"""Random ticket lifecycles on the whole engine (API, worker, sandboxes, PostgreSQL) over the
time-skipping server, every invariant checked after every step (tests/simulation/driver.py).

The test command runs a bounded part with a fixed seed; a longer or another run:
`SIMULATION_SEED=42 SIMULATION_STEPS=2000 pytest tests/simulation` (SIMULATION_TICKETS defaults to
one ticket per five steps, at least 30; SIMULATION_LOG=1 prints every step of a run that passes).
A failure prints the seed, the violations and the steps that led to them.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.simulation.driver import Simulation
from tests.support import temporal as servers
from tests.support.stack import Stack, running_stack

SEED = int(os.environ.get("SIMULATION_SEED", "20261111"))
STEPS = int(os.environ.get("SIMULATION_STEPS", "150"))
TICKETS = int(os.environ.get("SIMULATION_TICKETS", str(max(30, STEPS // 5))))


@pytest.fixture(scope="module")
async def simulated(
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Stack]:
    """The engine on a time-skipping server of its own: the clock jumps only when this
    simulation says, and tickets it leaves waiting hold no other test's clock."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=servers.test_server_path(),
        data_converter=pydantic_data_converter,
    )
    await servers.register_search_attributes(env.client)
    try:
        async with running_stack(
            database_url, sessions, env, tmp_path_factory.mktemp("simulation")
        ) as stack:
            yield stack
    finally:
        await env.shutdown()


async def test_random_lifecycles_keep_every_invariant_after_every_step(simulated: Stack) -> None:
    summary = await Simulation(simulated, seed=SEED, steps=STEPS, tickets=TICKETS).run()

    print(f"seed {SEED}: {summary}")
    if os.environ.get("SIMULATION_LOG"):
        print("\n".join(summary.log))
    # The run went through the world's parts, not only through openings and refusals.
    for kind in ("open", "act", "race", "courier", "provider", "jump"):
        assert summary.steps[kind], f"seed {SEED} never took a {kind} step: {summary.steps}"
