"""Keeps the run command's long-running children up: a child that ends is started again after a
backoff, and a child that keeps dying makes the run command give up and stop everything.

Only the dead child is restarted. The others reconnect by themselves: the API and the worker
retry their Temporal and database connections, and a worker whose Temporal connection fails for
good exits, which brings it here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from stack.errors import StackError
from stack.processes import how_it_ended, say

T = TypeVar("T")


@dataclass(frozen=True)
class RestartPolicy:
    first_delay: float = 0.5  # seconds before the first restart, doubling for each next one
    max_delay: float = 30.0
    max_restarts: int = 5  # for one child within `window` seconds; one more death gives up
    window: float = 60.0
    stable_after: float = 30.0  # a run at least this long forgets the earlier failures

    def delay(self, failures: int) -> float:
        """Backoff before restart number `failures + 1` of a run of quick deaths."""
        return min(self.max_delay, self.first_delay * 2.0**failures)


@dataclass
class RestartHistory:
    """One child's recent deaths under a policy; pure bookkeeping, times are passed in."""

    policy: RestartPolicy
    restarts: deque[float] = field(default_factory=deque)  # when each recent restart was decided
    failures: int = 0  # consecutive runs shorter than `stable_after`

    def next_delay(self, now: float, ran_for: float) -> float | None:
        """Seconds to wait before starting the child again, or None to give up on it."""
        policy = self.policy
        if ran_for >= policy.stable_after:
            self.failures = 0
            self.restarts.clear()
        while self.restarts and now - self.restarts[0] > policy.window:
            self.restarts.popleft()
        if len(self.restarts) >= policy.max_restarts:
            return None
        delay = policy.delay(self.failures)
        self.failures += 1
        self.restarts.append(now)
        return delay


class Unit(Protocol):
    """A long-running part of the stack: a `Child`, or the embedded PostgreSQL."""

    @property
    def name(self) -> str: ...
    @property
    def log_path(self) -> Path: ...
    @property
    def pid(self) -> int: ...
    async def start(self) -> None: ...
    async def wait(self) -> int | None: ...
    def tail(self, lines: int = 25) -> str: ...


class Supervisor:
    """Watches every unit in its own task. `DATA_DIR/pids.json` names each one's current pid."""

    def __init__(self, pids_path: Path, policy: RestartPolicy | None = None) -> None:
        self.pids_path = pids_path
        self.policy = policy or RestartPolicy()
        self.stopping = False
        self.units: list[Unit] = []
        self._keepers: list[asyncio.Task[None]] = []
        self._gave_up = asyncio.Event()
        self._failure: StackError | None = None

    def supervise(self, unit: Unit) -> None:
        """Watch `unit`, which has just been started."""
        self.units.append(unit)
        self._write_pids()
        keeper = asyncio.create_task(self._keep(unit), name=f"keep-{unit.name}")
        keeper.add_done_callback(self._keeper_ended)
        self._keepers.append(keeper)

    async def failure(self) -> StackError:
        """Returns, once a unit has died too often, the error that says so."""
        await self._gave_up.wait()
        assert self._failure is not None
        return self._failure

    async def unless_gave_up(self, work: Awaitable[T]) -> T:
        """`work`'s result; raises instead when a unit is given up on first."""
        task = asyncio.ensure_future(work)
        failed = asyncio.create_task(self.failure())
        try:
            await asyncio.wait({task, failed}, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                return task.result()
            raise failed.result()
        finally:
            task.cancel()
            failed.cancel()

    async def stop(self) -> None:
        """No restart from now on; what is in the middle of starting finishes starting."""
        self.stopping = True
        for keeper in self._keepers:
            keeper.cancel()
        await asyncio.gather(*self._keepers, return_exceptions=True)
        self._keepers.clear()

    def forget_pids(self) -> None:
        self.pids_path.unlink(missing_ok=True)

    async def _keep(self, unit: Unit) -> None:
        history = RestartHistory(self.policy)
        started = time.monotonic()
        how: str | None = None  # set when starting it again failed
        while True:
            if how is None:
                how = how_it_ended(await unit.wait())
            if self.stopping:
                return
            ran_for = time.monotonic() - started
            delay = history.next_delay(time.monotonic(), ran_for)
            say(
                f"{unit.name} (pid {unit.pid}) {how} after {ran_for:.1f} s; its last lines "
                f"(full log in {unit.log_path}):\n{unit.tail().rstrip()}"
            )
            if delay is None:
                self._give_up(unit, how)
                return
            say(f"restarting {unit.name} in {delay:.1f} s")
            await asyncio.sleep(delay)
            started = time.monotonic()
            how = await self._restart(unit)
            if how is None:
                self._write_pids()
                say(f"{unit.name} restarted (pid {unit.pid})")

    async def _restart(self, unit: Unit) -> str | None:
        """None once started; else why it could not be."""
        starting = asyncio.ensure_future(unit.start())
        try:
            # Shielded: a stop arriving now waits for the start, then stops what it started.
            await asyncio.shield(starting)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await starting
            raise
        except Exception as err:
            return f"could not be started again ({type(err).__name__}: {err})"
        return None

    def _give_up(self, unit: Unit, how: str) -> None:
        policy = self.policy
        self._fail(
            f"giving up on {unit.name}: it {how}, after {policy.max_restarts} restarts within "
            f"{policy.window:.0f} s; stopping everything. Its log: {unit.log_path}"
        )

    def _keeper_ended(self, keeper: asyncio.Task[None]) -> None:
        """A keeper that breaks would leave its unit unwatched: that stops everything too."""
        if not keeper.cancelled() and (error := keeper.exception()) is not None:
            self._fail(f"{keeper.get_name()} failed ({error!r}); stopping everything")

    def _fail(self, message: str) -> None:
        if self._failure is None:  # the first reason is the one told
            self._failure = StackError(message)
        self._gave_up.set()

    def _write_pids(self) -> None:
        """Atomically, so an operator's script never reads half a file."""
        pids = {"stack": os.getpid(), "children": {unit.name: unit.pid for unit in self.units}}
        partial = self.pids_path.with_suffix(".json.partial")
        partial.write_text(json.dumps(pids, indent=2) + "\n")
        partial.replace(self.pids_path)
