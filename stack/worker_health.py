"""`python -m stack.worker_health`: exit 0 when a worker of this host polls the task queue.

The compose file's health check for the worker. It asks Temporal, not the worker, because a
worker is healthy when it takes work: its process may be up while its polls have stopped. The
SDK names each worker client `<pid>@<hostname>`, and a container's hostname is its own, so among
the pollers of a scaled-out queue this finds the one of the container it runs in.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from datetime import UTC, datetime, timedelta

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


async def polls(
    client: Client, task_queue: str, host: str, within: timedelta = RECENT
) -> list[str]:
    """What is missing for `host`'s worker to count as polling; empty when nothing is."""
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
        if not any(
            poller.identity.endswith(f"@{host}")
            and now - poller.last_access_time.ToDatetime(tzinfo=UTC) <= within
            for poller in described.pollers
        ):
            missing.append(f"no {TaskQueueType.Name(kind)} poll from {host} within {within}")
    return missing


async def _check() -> int:
    settings = get_settings()
    try:
        client = await Client.connect(
            settings.temporal_address, namespace=settings.temporal_namespace
        )
        missing = await polls(client, settings.temporal_task_queue, socket.gethostname())
    except (RuntimeError, RPCError) as err:  # Temporal unreachable: no work to take either
        missing = [f"Temporal at {settings.temporal_address}: {err}"]
    if missing:
        print(f"unhealthy: {'; '.join(missing)}", file=sys.stderr)
        return 1
    print(f"healthy: polling task queue {settings.temporal_task_queue}")
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
