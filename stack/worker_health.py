"""`python -m stack.worker_health`: exit 0 when the workers of this host poll the task queue.

The compose file's health check for the worker. It asks Temporal, not the worker, because a
worker is healthy when it takes work: its process may be up while its polls have stopped. The
SDK names each worker client `<pid>@<hostname>`, and a container's hostname is its own, so among
the pollers of a scaled-out queue this finds the one of the container it runs in. Under the run
command (DATA_DIR/pids.json names its worker processes, `worker`, `worker-2`, …) every one of
them must poll.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from settings import get_settings

# An idle worker's long polls reach the server about once a minute; a poll older than this
# means the worker stopped asking.
RECENT = timedelta(seconds=90)
_KINDS = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)


def identity(pid: int, host: str | None = None) -> str:
    """The name the SDK gives the worker of process `pid` unless told otherwise."""
    return f"{pid}@{host or socket.gethostname()}"


def is_worker(child: str) -> bool:
    """Whether a name in DATA_DIR/pids.json is one of the run command's worker processes."""
    return child == "worker" or child.startswith("worker-")


async def polls(
    client: Client, task_queue: str, host: str, within: timedelta = RECENT
) -> list[str]:
    """What is missing for `host`'s worker to count as polling; empty when nothing is."""
    return await _missing(
        client, task_queue, {host: lambda name: name.endswith(f"@{host}")}, within
    )


async def polls_of(
    client: Client, task_queue: str, identities: list[str], within: timedelta = RECENT
) -> list[str]:
    """What is missing for each of these workers (by identity) to count as polling."""
    wanted = {name: _named(name) for name in identities}
    return await _missing(client, task_queue, wanted, within)


def _named(wanted: str) -> Callable[[str], bool]:
    return lambda name: name == wanted


async def _missing(
    client: Client,
    task_queue: str,
    wanted: Mapping[str, Callable[[str], bool]],
    within: timedelta,
) -> list[str]:
    missing = []
    for kind in _KINDS:
        described = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=kind,
            ),
            timeout=timedelta(seconds=5),
        )
        now = datetime.now(UTC)
        recent = [
            poller.identity
            for poller in described.pollers
            if now - poller.last_access_time.ToDatetime(tzinfo=UTC) <= within
        ]
        missing += [
            f"no {TaskQueueType.Name(kind)} poll from {label} within {within}"
            for label, matches in wanted.items()
            if not any(matches(name) for name in recent)
        ]
    return missing


def run_command_workers(pids_path: Path) -> list[str] | None:
    """The identities of the run command's worker processes, None when it is not running."""
    try:
        children: dict[str, int] = json.loads(pids_path.read_text())["children"]
    except FileNotFoundError:
        return None
    return [identity(pid) for name, pid in children.items() if is_worker(name)]


async def _check() -> int:
    settings = get_settings()
    queue = settings.temporal_task_queue
    workers = run_command_workers(settings.data_dir / "pids.json")
    try:
        client = await Client.connect(
            settings.temporal_address, namespace=settings.temporal_namespace
        )
        if workers is None:
            missing = await polls(client, queue, socket.gethostname())
        else:
            missing = await polls_of(client, queue, workers)
    except (RuntimeError, RPCError) as err:  # Temporal unreachable: no work to take either
        missing = [f"Temporal at {settings.temporal_address}: {err}"]
    if missing:
        print(f"unhealthy: {'; '.join(missing)}", file=sys.stderr)
        return 1
    polling = "" if workers is None else f" ({len(workers)} worker processes)"
    print(f"healthy: polling task queue {queue}{polling}")
    return 0


def main() -> None:
    code = asyncio.run(_check())
    sys.stdout.flush()
    sys.stderr.flush()
    # Now and then the SDK's Rust threads call into Python while it finalizes, which aborts the
    # interpreter (exit 134, a false "unhealthy"): there is nothing left to clean up, so skip it.
    os._exit(code)


if __name__ == "__main__":
    main()
