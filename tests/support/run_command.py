"""`python -m stack` as a subprocess, as a new user runs it: embedded Temporal and PostgreSQL, on
free ports and the test's own data directory."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support.servers import free_port

BANNER = "After-sales engine is up"
ROOT = Path(__file__).resolve().parents[2]
PORT_NAMES = ("api", "sandbox", "temporal", "ui", "courier", "smtp")


def free_ports() -> dict[str, int]:
    return {name: free_port() for name in PORT_NAMES}


def run_command_env(data_dir: Path, ports: dict[str, int]) -> dict[str, str]:
    """The caller's environment without what would point the run command elsewhere."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "TEMPORAL_ADDRESS"}
        and not key.startswith(("DEADLINE_", "LOG_"))
    }
    return env | {
        "DATA_DIR": str(data_dir),
        "API_PORT": str(ports["api"]),
        "PAYMENT_SANDBOX_PORT": str(ports["sandbox"]),
        "TEMPORAL_DEV_PORT": str(ports["temporal"]),
        "TEMPORAL_UI_PORT": str(ports["ui"]),
        "COURIER_SANDBOX_PORT": str(ports["courier"]),
        "NOTIFY_SMTP_PORT": str(ports["smtp"]),
    }


@asynccontextmanager
async def run_command(
    env: dict[str, str], output: list[str], *, exit_code: int = 0
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m stack` until its banner; Ctrl-C on leaving unless it has already ended, and
    then it must end with `exit_code` (0: cleanly)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stack",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None

    async def read() -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            output.append(raw.decode(errors="replace"))

    reader = asyncio.create_task(read())
    try:
        async with asyncio.timeout(180):
            while not any(BANNER in line for line in output):
                if process.returncode is not None:
                    raise AssertionError("the run command exited:\n" + "".join(output[-40:]))
                await asyncio.sleep(0.2)
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        async with asyncio.timeout(60):
            code = await process.wait()
            await reader
        assert code == exit_code, "".join(output[-40:])


async def settled(api: httpx.AsyncClient, ticket_no: str) -> dict[str, Any]:
    """The ticket once its refund is done (`completed`) or has failed, within 60 s."""
    async with asyncio.timeout(60):
        while True:
            ticket: dict[str, Any] = (await api.get(f"/v1/tickets/{ticket_no}")).json()
            if ticket["status"] in ("completed", "refund_failed"):
                return ticket
            await asyncio.sleep(0.2)
