"""One run command (`python -m stack`) per scenario, on free ports and a fresh data directory:
Temporal dev server persisted to DATA_DIR/temporal, embedded PostgreSQL, worker, API, sandboxes,
each a separate process whose pid DATA_DIR/pids.json names."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from persistence.db import make_engine, make_session_factory
from settings import Settings
from stack.postgres import EmbeddedPostgres
from tests.support.cutting_proxy import CuttingProxy, cutting_proxy
from tests.support.run_command import free_ports, run_command, run_command_env
from tests.support.sandbox_state import COURIER_FILE, PROVIDER_FILE

# The suite polls and retries hard during outages; request limits would only add 429s to the
# answers it records, which are about faults, not about limits.
BASE_ENV = {"LIMITS_ENABLED": "false"}
PATIENCE = 90.0  # seconds for a restarted child to be named in pids.json


@dataclass
class Stack:
    data_dir: Path
    ports: dict[str, int]
    keys: dict[str, str]  # client label -> API key
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    temporal: Client
    output: list[str]
    # Between the worker and the payment sandbox, when the scenario asked for one.
    provider_proxy: CuttingProxy | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    def client(self, label: str, timeout: float = 10.0) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.api_url,
            headers={"Authorization": f"Bearer {self.keys[label]}"},
            timeout=timeout,
        )

    def sandbox(self) -> httpx.AsyncClient:
        settings = Settings()
        return httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.ports['sandbox']}",
            headers={
                "Authorization": f"Bearer {settings.payment_sandbox.api_key.get_secret_value()}"
            },
            timeout=10,
        )

    def courier(self) -> httpx.AsyncClient:
        settings = Settings()
        return httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.ports['courier']}",
            headers={
                "Authorization": f"Bearer {settings.courier_sandbox.api_key.get_secret_value()}"
            },
            timeout=10,
        )

    def pids(self) -> dict[str, int]:
        children: dict[str, int] = json.loads((self.data_dir / "pids.json").read_text())["children"]
        return children

    def signal(self, child: str, sig: signal.Signals) -> int:
        """Sends `sig` to the child's current pid; returns that pid."""
        pid = self.pids()[child]
        os.kill(pid, sig)
        return pid

    async def restarted(self, child: str, old_pid: int) -> int:
        async with asyncio.timeout(PATIENCE):
            while True:
                if (pid := self.pids()[child]) != old_pid:
                    return pid
                await asyncio.sleep(0.1)

    def sandbox_view(self) -> Path:
        """A directory where tests.support.sandbox_state finds the sandboxes' SQLite files (the
        run command keeps each in a directory of its own)."""
        view = self.data_dir.parent / "sandbox-view"
        view.mkdir(exist_ok=True)
        for link, target in (
            (PROVIDER_FILE, "payment-sandbox/payment_sandbox.sqlite3"),
            (COURIER_FILE, "courier-sandbox/courier_sandbox.sqlite3"),
        ):
            if not (view / link).is_symlink():
                (view / link).symlink_to(self.data_dir / target)
        return view

    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.ports['temporal']}"


@asynccontextmanager
async def running_stack(
    root: Path, extra_env: dict[str, str], *, provider_proxy: bool = False
) -> AsyncIterator[Stack]:
    """The run command; with `provider_proxy`, the engine reaches the payment sandbox through a
    CuttingProxy the scenario controls."""
    data_dir = root / "data"
    ports = free_ports()
    env = run_command_env(data_dir, ports) | BASE_ENV | extra_env
    async with contextlib.AsyncExitStack() as stack:
        proxy = None
        if provider_proxy:
            proxy = await stack.enter_async_context(cutting_proxy(f"127.0.0.1:{ports['sandbox']}"))
            env["PAYMENT_SANDBOX_URL"] = f"http://{proxy.address}"
        async with _started(data_dir, ports, env) as running:
            running.provider_proxy = proxy
            yield running


@asynccontextmanager
async def _started(
    data_dir: Path, ports: dict[str, int], env: dict[str, str]
) -> AsyncIterator[Stack]:
    output: list[str] = []
    async with run_command(env, output):
        demo = json.loads((data_dir / "demo-keys.json").read_text())
        keys = {label: entry["api_key"] for label, entry in demo.items()}
        embedded = EmbeddedPostgres(data_dir / "postgres")
        embedded.start()
        engine = make_engine(embedded.sqlalchemy_url(), pool_size=5)
        temporal = await Client.connect(
            f"127.0.0.1:{ports['temporal']}", data_converter=pydantic_data_converter
        )
        try:
            yield Stack(
                data_dir, ports, keys, engine, make_session_factory(engine), temporal, output
            )
        finally:
            await engine.dispose()
