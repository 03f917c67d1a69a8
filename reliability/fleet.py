"""Processes of a scaled-out engine started beside one Temporal and one PostgreSQL: API
processes and worker processes with the run command's own commands, and the wait until they
serve."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import httpx

from reliability.faults import WORKER_POLLING
from stack.processes import Child, how_it_ended

ROOT = Path(__file__).resolve().parents[1]
READY_BOUND = 60.0  # seconds for a started process to serve


def api_process(name: str, port: int, env: dict[str, str], logs: Path) -> Child:
    """An API process, started as the run command starts its own (stack/launcher.py)."""
    argv = [
        *(sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"),
        *("--host", "127.0.0.1", "--port", str(port)),
    ]
    return Child(name, argv, env=env, log_path=logs / f"{name}.log", echo=False)


def worker_process(name: str, env: dict[str, str], logs: Path) -> Child:
    """A worker process, `python worker.py` as the run command starts it, from any directory."""
    argv = [sys.executable, str(ROOT / "worker.py")]
    return Child(name, argv, env=env, log_path=logs / f"{name}.log", echo=False)


async def start_serving(apis: dict[int, Child], workers: list[Child]) -> None:
    """Start every process; return once every API (by port) answers /readyz and every worker
    says it polls its task queue."""
    everyone = [*apis.values(), *workers]
    for child in everyone:
        await child.start()
    deadline = time.monotonic() + READY_BOUND
    async with httpx.AsyncClient(timeout=2.0) as http:
        while True:
            codes = [(c.name, c.returncode) for c in everyone if c.returncode is not None]
            ended = [f"{name} {how_it_ended(code)}" for name, code in codes]
            missing = [f"{c.name} not ready" for p, c in apis.items() if not await _ready(http, p)]
            missing += [f"{w.name} not polling" for w in workers if not _polling(w)]
            if not missing and not ended:
                return
            if ended or time.monotonic() > deadline:
                missing = ended + missing
                tails = "".join(f"--- {c.name}:\n{c.tail()}" for c in everyone)
                raise AssertionError(f"not serving: {'; '.join(missing)}\n{tails}")
            await asyncio.sleep(0.3)


def _polling(worker: Child) -> bool:
    return any(WORKER_POLLING in line for line in worker.recent)


async def _ready(http: httpx.AsyncClient, port: int) -> bool:
    try:
        return (await http.get(f"http://127.0.0.1:{port}/readyz")).is_success
    except httpx.TransportError:
        return False
