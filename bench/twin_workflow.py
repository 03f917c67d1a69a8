"""Bare twins: workflows of the same shape as a ticket's that do nothing else. Their activities
return at once; what they cost is what Temporal and the SDK cost for that shape, the floor any
ticket of that shape stands on.

`ShapedTwin` repeats a real ticket's history workflow task by workflow task (bench/throughput.py
`shape_of` reads the tasks from the history); `BareTwin` runs a plain list of steps, such as one
wait for an Update.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError
from temporalio.workflow import ActivityCancellationType

TASK_QUEUE = "bench-twin"
SIGNAL = "event"
UPDATE = "approve"
# A keyword attribute the dev server has by default, upserted where the ticket upserts its own.
_STATUS = SearchAttributeKey.for_keyword("TemporalScheduledById")
_CALL = timedelta(seconds=30)
# A held activity heartbeats this often (bench/twin_worker.py) within this timeout.
HOLD_BEAT = timedelta(seconds=1)
HOLD_HEARTBEAT = timedelta(seconds=5)


@workflow.defn(name="BareTwin")
class BareTwin:
    """`shape` lists the steps: `local`, `activity`, `upsert`, `timer` (a timer cancelled by
    the signal that follows it, as a ticket's wait for its refund's settlement is) and
    `signal`."""

    def __init__(self) -> None:
        self._signals = 0

    @workflow.signal(name=SIGNAL)
    def event(self, _payload: str) -> None:
        self._signals += 1

    @workflow.update(name=UPDATE)
    def approve(self, _payload: str) -> int:
        """A bare Update: taken and answered in the workflow task that delivers it; it counts as
        the signal the next step waits for, so an approved twin goes on and ends."""
        self._signals += 1
        return self._signals

    def _heard(self, count: int) -> Callable[[], bool]:
        return lambda: self._signals >= count

    @workflow.run
    async def run(self, shape: list[str]) -> int:
        seen = 0
        for step in shape:
            if step == "local":
                await workflow.execute_local_activity(
                    "twin_step", "x", start_to_close_timeout=_CALL
                )
            elif step == "activity":
                await workflow.execute_activity("twin_step", "x", start_to_close_timeout=_CALL)
            elif step == "upsert":
                workflow.upsert_search_attributes([_STATUS.value_set(f"s{seen}")])
            elif step in ("timer", "signal"):
                seen += 1
                wanted = seen
                timeout = timedelta(hours=1) if step == "timer" else None
                await workflow.wait_condition(self._heard(wanted), timeout=timeout)
        return seen


async def _quietly(poll: asyncio.Future[Any]) -> None:
    """A poll ends cancelled, as the ticket's does: that is its end, not a failure."""
    with contextlib.suppress(ActivityError):
        await poll


@dataclass
class TwinTask:
    """One workflow task of a real ticket's history as the shaped twin repeats it: the commands
    the task completed with, in order, then what woke the next task."""

    # `patch`, `local`, `upsert`, `activity KEY` (returns at once), `hold KEY` (runs until the
    # workflow ends, as a poll the ticket abandons does), `poll KEY` (fails each attempt and is
    # retried, as a courier poll whose parcel travels), `stop KEY` (cancels that poll),
    # `timer KEY SECONDS`, `cancel KEY`.
    commands: list[str] = field(default_factory=list)
    answers: int = 0  # Updates answered by this task, the oldest first
    activities: list[int] = field(default_factory=list)  # ended before the next task
    timers: list[int] = field(default_factory=list)  # fired before the next task
    messages: int = 0  # signals and Updates that came for the next task


@workflow.defn(name="ShapedTwin")
class ShapedTwin:
    """A ticket's history repeated task by task: each workflow task completes with the same
    commands as the ticket's did, and waits for what woke the ticket's next one. Signals and
    Updates are counted alike; each Update is answered by the task that answered the ticket's
    (the ticket answers once the step it took is recorded)."""

    def __init__(self) -> None:
        self._messages = 0
        self._updates = 0
        self._answered = 0

    @workflow.signal(name=SIGNAL)
    def event(self, _payload: str) -> None:
        self._messages += 1

    @workflow.update(name=UPDATE)
    async def approve(self, _payload: str) -> int:
        self._messages += 1
        number = self._updates
        self._updates += 1
        await workflow.wait_condition(lambda: self._answered > number)
        return self._messages

    @workflow.run
    async def run(self, tasks: list[TwinTask]) -> int:
        pending: dict[int, asyncio.Future[Any]] = {}  # activities and timers, by key
        polls: dict[int, asyncio.Future[Any]] = {}  # the polls that `stop` cancels
        patches = 0
        expected = 0
        for task in tasks:
            for command in task.commands:
                verb, *args = command.split()
                if verb == "patch":
                    workflow.patched(f"twin-{patches}")
                    patches += 1
                elif verb == "local":
                    await workflow.execute_local_activity(
                        "twin_step", "x", start_to_close_timeout=_CALL
                    )
                elif verb == "upsert":
                    workflow.upsert_search_attributes([_STATUS.value_set(f"t{patches}")])
                elif verb == "activity":
                    pending[int(args[0])] = workflow.start_activity(
                        "twin_step", "x", start_to_close_timeout=_CALL
                    )
                elif verb == "hold":
                    held = workflow.start_activity(
                        "twin_hold",
                        "x",
                        start_to_close_timeout=timedelta(hours=1),
                        heartbeat_timeout=HOLD_HEARTBEAT,
                        cancellation_type=ActivityCancellationType.ABANDON,
                    )
                    held.add_done_callback(lambda done: done.cancelled() or done.exception())
                elif verb == "poll":
                    polls[int(args[0])] = poll = workflow.start_activity(
                        "twin_poll",
                        "x",
                        start_to_close_timeout=_CALL,
                        heartbeat_timeout=HOLD_HEARTBEAT,
                        retry_policy=RetryPolicy(maximum_attempts=0),
                        cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                    )
                    pending[int(args[0])] = asyncio.ensure_future(_quietly(poll))
                elif verb == "stop":
                    polls[int(args[0])].cancel()
                elif verb == "timer":
                    pending[int(args[0])] = asyncio.ensure_future(asyncio.sleep(float(args[1])))
                elif verb == "cancel":
                    pending[int(args[0])].cancel()
            self._answered += task.answers
            await asyncio.gather(*(pending[key] for key in task.activities + task.timers))
            if task.messages:
                expected += task.messages
                await workflow.wait_condition(self._heard(expected))
        return self._messages

    def _heard(self, count: int) -> Callable[[], bool]:
        return lambda: self._messages >= count
