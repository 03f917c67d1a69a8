"""`python -m tests.support.dying_worker`: the real worker, which SIGKILLs its own process

- right after `record_transition` has committed the step named in DIE_AFTER_RECORDING, before
  Temporal hears that the write (a regular activity, or a local one inside its workflow task) is
  done; or
- as an activity of the type named in DIE_WHEN_STARTING starts, before it does anything: the
  step is in flight at Temporal and nobody runs it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Any

import temporalio.client
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    Worker,
)

import contracts as c
import worker
from settings import Settings

DIE_AFTER_RECORDING = "DIE_AFTER_RECORDING"
DYING = "dying right after recording"
DIE_WHEN_STARTING = "DIE_WHEN_STARTING"
DYING_AT_START = "dying as it starts"
log = logging.getLogger("aftersales.dying_worker")


def _die() -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()
    os.kill(os.getpid(), signal.SIGKILL)


class DieAfterRecording(temporalio.client.Interceptor, Interceptor):
    """On the client, so that the worker built on it takes it up (it sees local activities too)."""

    def __init__(self, event: str) -> None:
        self._event = event

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _DieAfterRecording(next, self._event)


class DieWhenStarting(temporalio.client.Interceptor, Interceptor):
    def __init__(self, activity_type: str) -> None:
        self._activity_type = activity_type

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _DieWhenStarting(next, self._activity_type)


class _DieWhenStarting(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, activity_type: str) -> None:
        super().__init__(next)
        self._activity_type = activity_type

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        if info.activity_type == self._activity_type:
            log.warning("%s %s (attempt %s)", DYING_AT_START, info.activity_type, info.attempt)
            _die()
        return await super().execute_activity(input)


class _DieAfterRecording(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, event: str) -> None:
        super().__init__(next)
        self._event = event

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        result = await super().execute_activity(input)
        step = input.args[0] if input.args else None
        if (
            activity.info().activity_type == c.RECORD_TRANSITION
            and getattr(step, "event", None) == self._event
        ):
            # The transaction is committed; the result has not left this process.
            log.warning("%s %s at seq %s", DYING, self._event, getattr(step, "seq", "?"))
            _die()
        return result


def build_dying_worker(
    client: Client,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    outside: worker.OutsideWorld,
) -> Worker:
    """`worker.build_worker` on a client whose interceptor the worker takes up."""
    config = client.config()
    dying: temporalio.client.Interceptor = (
        DieWhenStarting(os.environ[DIE_WHEN_STARTING])
        if DIE_WHEN_STARTING in os.environ
        else DieAfterRecording(os.environ[DIE_AFTER_RECORDING])
    )
    config["interceptors"] = [*config["interceptors"], dying]
    return build_real_worker(Client(**config), settings, sessions, outside)


build_real_worker = worker.build_worker

if __name__ == "__main__":
    # `worker.main` stays the one composition root: only the worker it builds is swapped.
    worker.build_worker = build_dying_worker
    asyncio.run(worker.main())
