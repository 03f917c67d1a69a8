"""An API process of its own over a given database, started as the run command starts its API
(`uvicorn api.app:create_app --factory`), and the keys its callers present."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import psutil
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.auth import Role, issue_key
from stack.processes import Child
from tests.support.servers import free_port

READY_WITHIN = 60.0  # seconds
# Request limits off, as the benchmark's stack runs: one key sends thousands of requests a
# minute here, which the per-key limit would answer with 429.
API_ENV = {"LIMITS_ENABLED": "false", "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}


@asynccontextmanager
async def api_process(
    database_url: str, temporal_address: str, data_dir: Path
) -> AsyncIterator[tuple[str, int]]:
    """The API on a free port until the block ends; yields its base URL and pid."""
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "TEMPORAL_ADDRESS", "API_PORT", "DATA_DIR"}
    }
    env |= API_ENV | {
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": temporal_address,
        "API_PORT": str(port),
        "DATA_DIR": str(data_dir),
    }
    child = Child(
        "api",
        [
            *(sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"),
            *("--host", "127.0.0.1", "--port", str(port)),
        ],
        env=env,
        log_path=data_dir / "api.log",
        echo=False,
    )
    await child.start()
    url = f"http://127.0.0.1:{port}"
    try:
        await _ready(url, child)
        yield url, child.pid
    finally:
        await child.stop()


async def _ready(url: str, child: Child) -> None:
    deadline = time.monotonic() + READY_WITHIN
    async with httpx.AsyncClient(base_url=url, timeout=2.0) as http:
        while time.monotonic() < deadline:
            if child.returncode is not None:
                raise RuntimeError(f"the API exited ({child.returncode}):\n{child.tail()}")
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"the API was not ready within {READY_WITHIN:.0f} s:\n{child.tail()}")


async def issue_keys(
    sessions: async_sessionmaker[AsyncSession], principals: list[tuple[Role, str | None]]
) -> dict[tuple[Role, str | None], str]:
    """An API key for each (role, subject), stored as the API stores keys."""
    keys = {}
    async with sessions.begin() as session:
        for role, subject in principals:
            keys[role, subject] = await issue_key(session, role, subject, f"read path {role}")
    return keys


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds the process and its descendants have used, those that ended
    included (a PostgreSQL server's backends and parallel workers come and go; an ended child's
    time is added to its parent's once reaped)."""
    try:
        root = psutil.Process(pid)
        members = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for member in members:
        try:
            times = member.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


class CpuClock:
    """CPU seconds each named process (with its descendants) used between `start` and `stop`."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids
        self._started: dict[str, float] = {}

    def start(self) -> None:
        self._started = {name: cpu_seconds(pid) for name, pid in self._pids.items()}

    def stop(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) - self._started[name] for name, pid in self._pids.items()}
