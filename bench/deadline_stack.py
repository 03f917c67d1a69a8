"""The stack's footprint while tickets wait: the resident memory of its processes, how many
workflows the worker's cache holds, and the sizes of PostgreSQL's and Temporal's stores."""

from __future__ import annotations

import inspect

import httpx
import psutil
from sqlalchemy import text
from temporalio.worker import Worker

import worker as worker_module
from bench.deadline_report import Footprint
from reliability.harness import Stack


def _bytes_rss(pid: int | None) -> int:
    if pid is None:
        return 0
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.NoSuchProcess:
        return 0


def _metrics_address(worker_pid: int) -> str | None:
    """Where the worker serves the SDK's metrics, when it does (WORKER_METRICS_ADDRESS)."""
    try:
        return psutil.Process(worker_pid).environ().get("WORKER_METRICS_ADDRESS") or None
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


async def _cached_workflows(address: str | None) -> int | None:
    """The SDK's `sticky_cache_size` gauge: workflows the worker holds in memory."""
    if address is None:
        return None
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            page = (await client.get(f"http://{address}/metrics")).text
    except httpx.HTTPError:
        return None
    for line in page.splitlines():
        if line.startswith("temporal_sticky_cache_size"):
            return int(float(line.rsplit(" ", 1)[1]))
    return 0  # the gauge appears once the worker has cached a workflow


def cache_limit() -> int | None:
    """How many workflows the worker's cache holds at most: the SDK's default, unless
    worker.build_worker sets its own (then not known here)."""
    if "max_cached_workflows" in inspect.getsource(worker_module.build_worker):
        return None
    default: int = inspect.signature(Worker).parameters["max_cached_workflows"].default
    return default


def cache_setting() -> str:
    limit = cache_limit()
    if limit is None:
        return "as `worker.build_worker` sets `max_cached_workflows`"
    return f"{limit} workflows (`max_cached_workflows`: the SDK's default; worker.py sets none)"


class Gauges:
    """The stack's footprint: processes' memory, the database's and Temporal's store sizes."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        self._metrics = _metrics_address(stack.pids()["worker"])

    async def footprint(self, label: str, waiting: int) -> Footprint:
        pids = self._stack.pids()
        return Footprint(
            label=label,
            waiting=waiting,
            worker_rss=_bytes_rss(pids.get("worker")),
            temporal_rss=_bytes_rss(pids.get("temporal")),
            api_rss=_bytes_rss(pids.get("api")),
            cached=await _cached_workflows(self._metrics),
        )

    async def database_bytes(self) -> int:
        async with self._stack.sessions() as session:
            size = await session.scalar(text("SELECT pg_database_size(current_database())"))
        return int(size or 0)

    def temporal_bytes(self) -> int:
        """Temporal's SQLite store: the database file with its write-ahead log."""
        store = self._stack.data_dir / "temporal"
        return sum(path.stat().st_size for path in store.glob("temporal.db*"))
