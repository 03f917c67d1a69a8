"""Heartbeats in the background of an activity that waits on someone else.

Temporal times such an activity by its heartbeats (workflows/timeouts.py): a worker that dies
mid-call stops beating and the attempt is retried elsewhere within the heartbeat timeout, while
a call that is merely slow goes on as long as its start-to-close timeout allows. A cancellation
of the activity arrives with a heartbeat's answer, as `asyncio.CancelledError` in its task.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from temporalio import activity

# Without a heartbeat timeout (an activity run outside Temporal's timing): beat this often.
DEFAULT_EVERY = 2.0


@contextlib.asynccontextmanager
async def heartbeating(*details: Any) -> AsyncIterator[None]:
    """Beat (with `details`) at a quarter of the activity's heartbeat timeout while the block
    runs."""
    timeout = activity.info().heartbeat_timeout
    every = timeout.total_seconds() / 4 if timeout else DEFAULT_EVERY

    async def beat() -> None:
        while True:
            activity.heartbeat(*details)
            await asyncio.sleep(every)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
