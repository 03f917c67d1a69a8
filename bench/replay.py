"""What the worker's workflow side costs, without a server: recorded ticket histories
(tests/workflows/histories) replayed in this process, each replay a new workflow instance as a
ticket new to the worker is. Four set-ups in alternating rounds of the same run: the SDK's
default sandbox with no bytecode cache (each new instance compiles the workflow modules again,
as under PYTHONDONTWRITEBYTECODE), the same with bytecode cached (`worker.keep_bytecode`), the
worker's sandbox (`worker.workflow_runner(sandboxed=True)`: the step modules shared) and the
worker's default, no sandbox. CPU time of this process per replay."""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from worker import workflow_runner
from workflows.ticket import TicketWorkflow

HISTORIES = Path(__file__).resolve().parents[1] / "tests" / "workflows" / "histories"
# The simplest ticket (refund only before shipment) and a full return, each step recorded after
# its commit as tickets are now.
DEFAULT = (
    "refund_before_shipment_polled_after_commit",
    "return_refunded_after_inspection_after_commit",
)


@dataclass
class ReplayCost:
    history: str
    events: int
    ms_by_runner: dict[str, float]  # median CPU milliseconds per replay


async def _cpu_per_replay(runner: WorkflowRunner, history: WorkflowHistory, replays: int) -> float:
    replayer = Replayer(
        workflows=[TicketWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=runner,
    )
    started = time.process_time()
    async with replayer.workflow_replay_iterator(_copies(history, replays)) as results:
        async for result in results:
            if result.replay_failure is not None:
                raise result.replay_failure
    return (time.process_time() - started) / replays * 1000


async def _copies(history: WorkflowHistory, count: int) -> AsyncIterator[WorkflowHistory]:
    for number in range(count):
        yield WorkflowHistory(f"{history.workflow_id}-{number}", history.events)


NO_BYTECODE = "SDK default sandbox, no bytecode cache"
DEFAULT_SANDBOX = "SDK default sandbox, bytecode cached"
WORKER_SANDBOX = "worker's sandbox (step modules shared), bytecode cached"
UNSANDBOXED = "no sandbox (the worker's default)"


def measure(
    names: tuple[str, ...] = DEFAULT, replays: int = 30, rounds: int = 5
) -> list[ReplayCost]:
    default = SandboxedWorkflowRunner()
    runners: dict[str, tuple[WorkflowRunner, bool]] = {
        NO_BYTECODE: (default, False),
        DEFAULT_SANDBOX: (default, True),
        WORKER_SANDBOX: (workflow_runner(sandboxed=True), True),
        UNSANDBOXED: (workflow_runner(sandboxed=False), True),
    }
    saved = sys.dont_write_bytecode, sys.pycache_prefix
    costs = []
    with tempfile.TemporaryDirectory() as cached, tempfile.TemporaryDirectory() as empty:
        try:
            for name in names:
                costs.append(_measure_one(name, runners, replays, rounds, cached, empty))
        finally:
            sys.dont_write_bytecode, sys.pycache_prefix = saved
    return costs


def _measure_one(
    name: str,
    runners: dict[str, tuple[WorkflowRunner, bool]],
    replays: int,
    rounds: int,
    cached: str,
    empty: str,
) -> ReplayCost:
    history = WorkflowHistory.from_json(name, (HISTORIES / f"{name}.json").read_text())
    samples: dict[str, list[float]] = {label: [] for label in runners}
    for _ in range(rounds):
        for label, (runner, bytecode) in runners.items():
            # Without: nothing is written, and the prefix points where nothing was.
            sys.dont_write_bytecode = not bytecode
            sys.pycache_prefix = cached if bytecode else empty
            samples[label].append(asyncio.run(_cpu_per_replay(runner, history, replays)))
    medians = {label: statistics.median(values) for label, values in samples.items()}
    return ReplayCost(name, len(history.events), medians)
