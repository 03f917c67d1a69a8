"""`python -m bench.twin_worker ADDRESS [--sandboxed]`: the bare twins' worker, a process of its
own as the engine's worker is, so its CPU is measured the same way. Workflow code runs without
the SDK's sandbox (the floor) unless `--sandboxed`."""

from __future__ import annotations

import argparse
import asyncio
import signal
from datetime import timedelta

import uvloop
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from bench.twin_workflow import HOLD_BEAT, TASK_QUEUE, BareTwin, ShapedTwin


@activity.defn(name="twin_step")
async def twin_step(payload: str) -> str:
    return payload


@activity.defn(name="twin_hold")
async def twin_hold(payload: str) -> str:
    """Heartbeats until it is cancelled: when its workflow has ended, the next heartbeat says
    so, as for a ticket's courier poll that the ticket abandoned."""
    try:
        while True:
            activity.heartbeat()
            await asyncio.sleep(HOLD_BEAT.total_seconds())
    except asyncio.CancelledError:
        return payload  # nobody waits for it any more: end quietly


@activity.defn(name="twin_poll")
async def twin_poll(payload: str) -> str:
    """Fails each attempt and is retried later, as a ticket's courier poll while the parcel
    travels, until its workflow cancels it."""
    raise ApplicationError(
        "still travelling",
        type="ParcelTravelling",
        next_retry_delay=timedelta(minutes=10),
        category=ApplicationErrorCategory.BENIGN,
    )


async def main(address: str, sandboxed: bool) -> None:
    client = await Client.connect(address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[BareTwin, ShapedTwin],
        activities=[twin_step, twin_hold, twin_poll],
        workflow_runner=SandboxedWorkflowRunner() if sandboxed else UnsandboxedWorkflowRunner(),
    ):
        print("twin worker polling", flush=True)
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.twin_worker")
    parser.add_argument("address", help="the Temporal frontend, host:port")
    parser.add_argument("--sandboxed", action="store_true", help="in the SDK's sandbox")
    args = parser.parse_args()
    # The event loop the engine's worker runs on (worker.py), so the twin is measured alike.
    uvloop.run(main(args.address, args.sandboxed))
