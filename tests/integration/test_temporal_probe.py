"""The API's probe of Temporal while the server recycles its connections.

Temporal closes every client connection once it reaches its maximum age (5 minutes by default);
a call sent in the moment the connection goes fails on the client's side although the server is
well. The probe that guards every action must not take that for an unreachable Temporal: under a
long test run it once refused two actions with `temporal_unavailable` this way. Here the maximum
age is 300 ms, so the connection is replaced dozens of times while probes run without pause.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from api import faults
from api.problems import Problem
from tests.support.temporal import dev_server_path

PROBING = 8.0  # seconds
PROBERS = 10


@pytest.fixture
async def recycling() -> AsyncIterator[WorkflowEnvironment]:
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=dev_server_path(),
        dev_server_log_level="error",
        dev_server_extra_args=[
            "--dynamic-config-value",
            'frontend.keepAliveMaxConnectionAge="300ms"',
            "--dynamic-config-value",
            'frontend.keepAliveMaxConnectionAgeGrace="200ms"',
            # The probes run far faster than any API would send them: not rate-limited here.
            "--dynamic-config-value",
            "frontend.rps=1000000",
            "--dynamic-config-value",
            "frontend.namespaceRPS=1000000",
        ],
    ) as env:
        yield env


async def test_a_recycled_connection_is_not_an_unreachable_temporal(
    recycling: WorkflowEnvironment, caplog: pytest.LogCaptureFixture
) -> None:
    refused: list[str] = []
    probes = 0
    until = time.monotonic() + PROBING

    async def probe_without_pause() -> None:
        nonlocal probes
        while time.monotonic() < until:
            probes += 1
            try:
                await faults.temporal_reachable(recycling.client)
            except Problem as problem:
                refused.append(f"{problem.code}: {problem.__cause__}")
            await asyncio.sleep(0.002)

    with caplog.at_level(logging.INFO, logger="aftersales.faults"):
        await asyncio.gather(*(probe_without_pause() for _ in range(PROBERS)))

    # No probe refused an action ...
    assert refused == [], f"{len(refused)} of {probes} probes refused: {refused[:5]}"
    # ... and the run did meet calls failed by a closing connection (else it proves nothing).
    asked_again = [r for r in caplog.records if "asking again" in r.getMessage()]
    assert asked_again, f"no probe met a closing connection in {probes} probes"
