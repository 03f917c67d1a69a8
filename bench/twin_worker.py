"""`python -m bench.twin_worker ADDRESS`: the bare twin's worker, a process of its own as the
engine's worker is, so its CPU is measured the same way."""

from __future__ import annotations

import asyncio
import signal
import sys

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from bench.twin_workflow import TASK_QUEUE, BareTwin


@activity.defn(name="twin_step")
async def twin_step(payload: str) -> str:
    return payload


async def main(address: str) -> None:
    client = await Client.connect(address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Worker(client, task_queue=TASK_QUEUE, workflows=[BareTwin], activities=[twin_step]):
        print("twin worker polling", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
