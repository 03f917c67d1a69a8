"""The worker as an OS process of its own, for tests that kill it: its environment, its start
(once it polls), and what it printed when a wait fails."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path

from tests.support.stack import COURIER_KEY, Stack

ROOT = Path(__file__).resolve().parents[2]
READY = "worker polling task queue"
# Settings the worker must take from the test, not from whoever runs it.
_OURS = (
    "DATABASE_URL",
    "TEMPORAL_",
    "PAYMENT_SANDBOX_",
    "STRIPE_",
    "COURIER_SANDBOX_",
    "NOTIFY_",
    "DIE_AFTER_RECORDING",
    "DIE_WHEN_STARTING",
)


def worker_env(stack: Stack, queue: str, data_dir: Path) -> dict[str, str]:
    """The test stack's database, Temporal, courier and mail, on the test's own task queue."""
    inherited = {key: value for key, value in os.environ.items() if not key.startswith(_OURS)}
    temporal = stack.temporal.client
    return inherited | {
        "DATABASE_URL": stack.settings.require_database_url(),
        "TEMPORAL_ADDRESS": temporal.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": temporal.namespace,
        "TEMPORAL_TASK_QUEUE": queue,
        "DATA_DIR": str(data_dir),
        "COURIER_SANDBOX_URL": stack.courier_url,
        "COURIER_SANDBOX_API_KEY": COURIER_KEY,
        "NOTIFY_SMTP_PORT": str(stack.settings.notify.smtp_port),
        "NOTIFY_SMS_SANDBOX_OUTBOX": str(data_dir / "sms" / "outbox.jsonl"),
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
    }


def tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:]


@contextmanager
def showing(log: Path) -> Iterator[None]:
    """A wait that fails inside says what the worker printed."""
    try:
        yield
    except (AssertionError, TimeoutError) as failure:
        raise AssertionError(f"{failure!r}\n--- {log.name}:\n{tail(log)}") from None


@asynccontextmanager
async def worker_process(
    env: dict[str, str], log_path: Path, module: str = "worker"
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m <module>` as its own OS process, yielded once it polls; killed on leaving."""
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            cwd=ROOT,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            with suppress(TimeoutError):
                async with asyncio.timeout(60):
                    while READY not in tail(log_path):
                        if process.returncode is not None:
                            break
                        await asyncio.sleep(0.1)
            assert READY in tail(log_path), f"{module} is not polling:\n{tail(log_path)}"
            yield process
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()
