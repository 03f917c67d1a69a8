"""Child processes of the run command: output to a log file and, prefixed, to the console."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

_COLOURS = ("36", "33", "35", "32", "34", "31")
_PREFIX_WIDTH = 16


class Child:
    """One subprocess in its own process group, so a Ctrl-C reaches only the launcher,
    which then stops the children in order. `start()` again after it ended restarts it."""

    _started = 0

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log_path: Path,
        echo: bool = True,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = log_path
        self.echo = echo
        self.recent: deque[str] = deque(maxlen=200)
        self._process: asyncio.subprocess.Process | None = None
        self._pump: asyncio.Task[None] | None = None
        self._swept = False
        self._colour = _COLOURS[Child._started % len(_COLOURS)]
        Child._started += 1
        self.runs = 0

    async def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # A launcher's first run starts the file afresh; a restart appends, so the log keeps
        # what the run that died printed.
        log = self.log_path.open("ab" if self.runs else "wb")
        if self.runs:
            log.write(f"--- restarted by the run command (run {self.runs + 1}) ---\n".encode())
        self.recent.clear()  # the tail shown on failure is this run's
        self._swept = False
        self._process = await asyncio.create_subprocess_exec(
            *self.argv,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            process_group=0,
            limit=1 << 20,  # long log lines (tracebacks as JSON) must not break the pump
        )
        self._pump = asyncio.create_task(self._copy_output(log), name=f"{self.name}-output")
        self.runs += 1

    @property
    def pid(self) -> int:
        assert self._process is not None, f"{self.name} was not started"
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.returncode

    async def wait(self) -> int:
        assert self._process is not None, f"{self.name} was not started"
        code = await self._process.wait()
        if not self._swept:
            # Whatever the child left in its group must not keep its port or our end of its
            # output pipe: a restart needs the one, the output copy below waits for the other.
            # Once, right after the exit: later, the group's id may belong to another process.
            self._swept = True
            self._signal(signal.SIGKILL)
        if self._pump is not None:
            # Shielded: cancelling a waiter must not cut the output copy short.
            await asyncio.shield(self._pump)
        return code

    async def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the child's process group, SIGKILL it after `grace` seconds."""
        if self._process is None or self._process.returncode is not None:
            if self._process is not None:
                await self.wait()
            return
        self._signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.wait(), grace)
        except TimeoutError:
            say(f"{self.name} did not stop within {grace:.0f} s; killing it")
            self._signal(signal.SIGKILL)
            await self.wait()

    def tail(self, lines: int = 25) -> str:
        return "".join(list(self.recent)[-lines:])

    def _signal(self, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(self.pid, signum)

    async def _copy_output(self, log: BinaryIO) -> None:
        assert self._process is not None and self._process.stdout is not None
        prefix = self._prefix()
        with log:
            async for raw in self._process.stdout:
                log.write(raw)
                log.flush()
                line = raw.decode(errors="replace")
                self.recent.append(line)
                if self.echo:
                    sys.stdout.write(prefix + line)
                    sys.stdout.flush()

    def _prefix(self) -> str:
        label = f"{self.name:<{_PREFIX_WIDTH}}| "
        return f"\033[{self._colour}m{label}\033[0m" if sys.stdout.isatty() else label


def how_it_ended(code: int | None) -> str:
    """`exited with code 1`, `was killed by SIGKILL`; None: a process that is not our child,
    whose exit code nobody told us."""
    if code is None:
        return "stopped running"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return f"exited with code {code}"


def say(message: str) -> None:
    """A line from the launcher itself."""
    label = f"{'stack':<{_PREFIX_WIDTH}}| "
    if sys.stdout.isatty():
        label = f"\033[1m{label}\033[0m"
    sys.stdout.write(f"{label}{message}\n")
    sys.stdout.flush()
