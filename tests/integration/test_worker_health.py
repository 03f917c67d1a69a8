"""The worker's compose health check asks Temporal whether this host's worker polls."""

from __future__ import annotations

import asyncio
import socket
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from stack.worker_health import polls


@workflow.defn(name="HealthCheckIdle", sandboxed=False)  # nothing to guard in it
class Idle:
    @workflow.run
    async def run(self) -> None:
        return None


@activity.defn(name="health_check_idle")
async def idle() -> None:
    return None


async def test_a_polling_worker_is_healthy_here_and_nowhere_else(
    dev_env: WorkflowEnvironment,
) -> None:
    client, queue, here = dev_env.client, f"health-{uuid.uuid4().hex[:8]}", socket.gethostname()
    assert len(await polls(client, queue, here)) == 2, "no worker yet: both kinds of poll missing"

    async with Worker(client, task_queue=queue, workflows=[Idle], activities=[idle]):
        async with asyncio.timeout(30):
            while True:
                if not await polls(client, queue, here):
                    break  # both kinds of poll seen: healthy
                await asyncio.sleep(0.2)
        elsewhere = await polls(client, queue, "another-container")
        assert elsewhere == [
            "no TASK_QUEUE_TYPE_WORKFLOW poll from another-container within 0:01:30",
            "no TASK_QUEUE_TYPE_ACTIVITY poll from another-container within 0:01:30",
        ]

    await asyncio.sleep(2)
    # Stopped: its last polls grow old, and past the window it no longer counts.
    assert len(await polls(client, queue, here, within=timedelta(seconds=1))) == 2
