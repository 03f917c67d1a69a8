"""How each fault is injected: SIGKILL of a supervised child (the supervisor restarts it), and a
hung PostgreSQL: SIGSTOP to the postmaster and every backend for a while, then SIGCONT. A stopped
process is alive to the supervisor, so it is not restarted: the database hangs, as a stalled disk
or a paused VM makes it hang, and every open connection waits."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time

import httpx
import psutil

from reliability.harness import Stack


async def kill(stack: Stack, child: str) -> float:
    """SIGKILL `child`; returns the seconds until the supervisor has started it again."""
    started = time.monotonic()
    old = stack.signal(child, signal.SIGKILL)
    await stack.restarted(child, old)
    return time.monotonic() - started


# What the worker logs once it polls its task queue (worker.py), at each start.
WORKER_POLLING = "worker polling task queue"


def worker_starts(stack: Stack) -> int:
    """How many times a worker of this stack has begun to poll its task queue."""
    log = stack.data_dir / "logs" / "worker.log"
    return log.read_text(errors="replace").count(WORKER_POLLING) if log.exists() else 0


async def worker_polling(stack: Stack, starts_before: int, bound: float = 120.0) -> float:
    """Seconds until a worker started after `starts_before` starts polls again."""
    started = time.monotonic()
    async with asyncio.timeout(bound):
        while True:
            if worker_starts(stack) > starts_before:
                return time.monotonic() - started
            await asyncio.sleep(0.1)


async def kill_worker(stack: Stack, times: int = 1) -> float:
    """SIGKILL the worker, and each of its next `times - 1` restarts as soon as it is spawned (a
    crash loop, which the supervisor backs off from); returns the seconds until a worker polls
    its task queue again."""
    started = time.monotonic()
    before = worker_starts(stack)
    for _ in range(times):
        await kill(stack, "worker")
    await worker_polling(stack, before)
    return time.monotonic() - started


async def hang_postgres(stack: Stack, seconds: float) -> None:
    postmaster = psutil.Process(stack.pids()["postgres"])
    group = [postmaster, *postmaster.children(recursive=True)]
    for process in group:
        process.send_signal(signal.SIGSTOP)
    try:
        await asyncio.sleep(seconds)
    finally:
        for process in group:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGCONT)


async def ready(stack: Stack, bound: float = 120.0) -> float:
    """Seconds until `/readyz` answers 200 (database and Temporal reachable)."""
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=5) as http:
        async with asyncio.timeout(bound):
            while True:
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        return time.monotonic() - started
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
