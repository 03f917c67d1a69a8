"""`python -m bench.bulk_fairness`: another merchant's single approve while one merchant's bulk
approve of 1,000 tickets runs, against the same approve on an idle engine.

Both merchants' tickets are refund-only tickets on orders delivered yesterday, each of a buyer of
its own, all opened and waiting for review before anything is timed. The other merchant approves
one ticket a second through `POST /v1/tickets/{no}/approve` (under an Idempotency-Key, sent again
on 503): first on the idle engine, then from the moment the bulk run is accepted until it has
finished. Each approval the bulk run makes is an Update of its own, and each approved ticket goes
on to its refund and completion on the same worker, as the other merchant's do.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass

from api.auth import Role, issue_key
from bench.approvals import MERCHANT, approved, reviewed
from bench.throughput import CpuMeter, Ours, meter_for, ms
from persistence.models import Merchant
from reliability.harness import Stack
from settings import BulkSettings

PACE = 2.0  # seconds from one of the other merchant's approvals to the next
# The engine is idle once its parts together use less than this share of one core.
QUIET_SHARE = 0.1
QUIET_WINDOW = 3.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bulk-tickets", type=int, default=1000, help="tickets in the bulk approve (at most 1000)"
    )
    parser.add_argument(
        "--bulk-idle-probes",
        type=int,
        default=None,
        help="the other merchant's approvals on the idle engine (default: as many as the bulk "
        "run is expected to see, so that both p99 are read from samples of one size)",
    )


@dataclass
class Probes:
    latencies: list[float]

    def latency(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _other_shop(stack: Stack) -> str:
    merchant_id = f"m-b{uuid.uuid4().hex[:8]}"
    async with stack.sessions.begin() as session:
        session.add(Merchant(merchant_id=merchant_id, name="The other shop"))
        await session.flush()
        key = await issue_key(session, Role.merchant, merchant_id, "bench")
    stack.keys[f"merchant:{merchant_id}"] = key
    return merchant_id


async def _approve(stack: Stack, label: str, ticket_no: str, retried: Counter[str]) -> float:
    """Seconds from the first send of the approve to its 200."""
    started = time.monotonic()
    async with stack.client(label, timeout=120) as merchant:
        await approved(merchant, ticket_no, retried)
    return time.monotonic() - started


async def _paced(
    stack: Stack, label: str, tickets: list[str], retried: Counter[str], until: asyncio.Event
) -> Probes:
    """One approval each PACE seconds, until `until` is set or the tickets run out."""
    latencies = []
    for ticket_no in tickets:
        if until.is_set():
            break
        started = time.monotonic()
        latencies.append(await _approve(stack, label, ticket_no, retried))
        await asyncio.sleep(max(0.0, PACE - (time.monotonic() - started)))
    return Probes(latencies)


async def _quiet(meter: CpuMeter, patience: float = 300) -> float:
    """Seconds waited until the engine's parts are idle: every step of the tickets opened so far
    taken, their mails sent."""
    started = time.monotonic()
    async with asyncio.timeout(patience):
        while True:
            meter.start()
            await asyncio.sleep(QUIET_WINDOW)
            if sum(meter.stop().values()) < QUIET_SHARE * QUIET_WINDOW:
                return time.monotonic() - started


async def _bulk_finished(stack: Stack, bulk_id: str, done: asyncio.Event) -> dict[str, object]:
    async with stack.client(MERCHANT, timeout=60) as merchant:
        while True:
            run = (await merchant.get(f"/v1/tickets/bulk/{bulk_id}", params={"limit": 1})).json()
            if run["status"] == "finished":
                done.set()
                return dict(run)
            await asyncio.sleep(0.5)


def _cores(used: dict[str, float], seconds: float) -> float:
    return sum(used.values()) / seconds


async def measure(args: argparse.Namespace, stack: Stack) -> list[str]:
    size = min(1000, args.bulk_tickets)
    other = await _other_shop(stack)
    label = f"merchant:{other}"
    bulk = BulkSettings()  # as the stack's worker reads them, from the same environment
    # During the run: one probe each PACE seconds, for a quarter longer than the run's pace.
    during_probes = math.ceil(size / bulk.rate * 1.25 / PACE) + 10
    # The p99 of 40 approvals is their slowest, that of 250 their third slowest: compared, the
    # two would read different quantiles. By default the idle round is as long as the bulk run.
    idle_probes = args.bulk_idle_probes or math.ceil(size / bulk.rate / PACE)
    opener = Ours(stack)
    retried: Counter[str] = Counter()
    try:
        await opener.add_buyers(size + idle_probes + during_probes)
        bulk_tickets = await reviewed(stack, opener, size)
        idle_tickets = await reviewed(stack, opener, idle_probes, merchant=other)
        during_tickets = await reviewed(stack, opener, during_probes, merchant=other)
    finally:
        await opener.aclose()
    meter = meter_for(stack)
    waited = await _quiet(meter)
    print(f"bulk fairness: tickets ready, the engine idle after {waited:.0f} s", flush=True)
    meter.start()
    idle_started = time.monotonic()
    idle = await _paced(stack, label, idle_tickets, retried, asyncio.Event())
    idle_cpu = _cores(meter.stop(), time.monotonic() - idle_started)
    await _quiet(meter)
    bulk_id = f"bench-{uuid.uuid4().hex[:8]}"
    finished = asyncio.Event()
    async with stack.client(MERCHANT, timeout=120) as merchant:
        started_at = time.monotonic()
        accepted = await merchant.post(
            "/v1/tickets/bulk/approve", json={"bulk_id": bulk_id, "ticket_nos": bulk_tickets}
        )
    assert accepted.status_code == 202, accepted.text
    watcher = asyncio.create_task(_bulk_finished(stack, bulk_id, finished))
    meter.start()
    during = await _paced(stack, label, during_tickets, retried, finished)
    run = await watcher
    bulk_seconds = time.monotonic() - started_at
    during_cpu = _cores(meter.stop(), bulk_seconds)
    if not finished.is_set() or len(during.latencies) == len(during_tickets):
        print("bulk fairness: the probes ran out before the bulk run finished", flush=True)
    ratio = during.latency(0.99) / idle.latency(0.99)
    print(f"bulk fairness: p99 during / idle {ratio:.2f}", flush=True)
    return [
        "## Another merchant's approve while a bulk approve of 1,000 tickets runs",
        "",
        f"One merchant's bulk approve (`POST /v1/tickets/bulk/approve`) of {size} tickets awaiting "
        "review: a workflow applying each approval as an Update of its own, "
        f"{bulk.in_flight} batch(es) of {bulk.batch_size} tickets at a time and at most "
        f"{bulk.rate:g} tickets a second (BULK_IN_FLIGHT, BULK_BATCH_SIZE, BULK_RATE), its "
        "tasks at a lower "
        "priority than the tickets' own and under the merchant's fairness key (the dev server "
        "runs with `matching.enableFairness=true`). Each approved ticket goes on to its refund "
        "at the payment sandbox (settling at once) and ends. Meanwhile another merchant approves "
        f"one ticket of its own every {PACE:.0f} s through the API, from the moment the run is "
        "accepted until it has finished; before the run, the same on the idle engine. Latency "
        "from the first send of an approve to its 200 (sent again on 503: "
        + (", ".join(f"{code} x{n}" for code, n in retried.items()) or "none")
        + ").",
        "",
        "The idle round starts once the engine's parts (API, worker, Temporal, PostgreSQL) "
        f"together use less than {QUIET_SHARE:.0%} of a core over {QUIET_WINDOW:.0f} s; "
        "their CPU is given in cores busy on average over each round.",
        "",
        "| the other merchant's approve | approvals | p50 | p99 | engine CPU, cores |",
        "|---|---|---|---|---|",
        f"| idle engine | {len(idle.latencies)} | {ms(idle.latency(0.5))} | "
        f"{ms(idle.latency(0.99))} | {idle_cpu:.2f} |",
        f"| during the bulk run | {len(during.latencies)} | {ms(during.latency(0.5))} | "
        f"{ms(during.latency(0.99))} | {during_cpu:.2f} |",
        "",
        f"p99 during the run / idle p99: **{ratio:.2f}**. The bulk run: {run['done']} done, "
        f"{run['failed']} failed of {run['total']}, in {bulk_seconds:.0f} s "
        f"({size / bulk_seconds:.1f} approvals/s).",
        "",
    ]


if __name__ == "__main__":
    from bench.__main__ import run_alone

    run_alone(sys.modules[__name__])
