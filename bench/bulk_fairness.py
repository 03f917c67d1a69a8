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
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass

from api.auth import Role, issue_key
from bench.approvals import MERCHANT, approved, reviewed
from bench.throughput import Ours, ms
from persistence.models import Merchant
from reliability.harness import Stack

PACE = 1.0  # seconds from one of the other merchant's approvals to the next


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bulk-tickets", type=int, default=1000, help="tickets in the bulk approve (at most 1000)"
    )
    parser.add_argument(
        "--bulk-idle-probes",
        type=int,
        default=40,
        help="the other merchant's approvals on the idle engine",
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


async def _bulk_finished(stack: Stack, bulk_id: str, done: asyncio.Event) -> dict[str, object]:
    async with stack.client(MERCHANT, timeout=60) as merchant:
        while True:
            run = (await merchant.get(f"/v1/tickets/bulk/{bulk_id}", params={"limit": 1})).json()
            if run["status"] == "finished":
                done.set()
                return dict(run)
            await asyncio.sleep(0.5)


async def measure(args: argparse.Namespace, stack: Stack) -> list[str]:
    size = min(1000, args.bulk_tickets)
    other = await _other_shop(stack)
    label = f"merchant:{other}"
    # During the run: one probe a second for as long as the bulk could take at its slowest.
    during_probes = max(60, size * 3 // 10)
    opener = Ours(stack)
    retried: Counter[str] = Counter()
    try:
        await opener.add_buyers(size + args.bulk_idle_probes + during_probes)
        bulk_tickets = await reviewed(stack, opener, size)
        idle_tickets = await reviewed(stack, opener, args.bulk_idle_probes, merchant=other)
        during_tickets = await reviewed(stack, opener, during_probes, merchant=other)
    finally:
        await opener.aclose()
    print(f"bulk fairness: {len(bulk_tickets)} + {len(idle_tickets)} tickets ready", flush=True)
    await asyncio.sleep(10)  # every opening's own steps done

    idle = await _paced(stack, label, idle_tickets, retried, asyncio.Event())
    await asyncio.sleep(5)  # the idle round's refunds done
    bulk_id = f"bench-{uuid.uuid4().hex[:8]}"
    finished = asyncio.Event()
    async with stack.client(MERCHANT, timeout=120) as merchant:
        started_at = time.monotonic()
        accepted = await merchant.post(
            "/v1/tickets/bulk/approve", json={"bulk_id": bulk_id, "ticket_nos": bulk_tickets}
        )
    assert accepted.status_code == 202, accepted.text
    watcher = asyncio.create_task(_bulk_finished(stack, bulk_id, finished))
    during = await _paced(stack, label, during_tickets, retried, finished)
    run = await watcher
    bulk_seconds = time.monotonic() - started_at
    if not finished.is_set() or len(during.latencies) == len(during_tickets):
        print("bulk fairness: the probes ran out before the bulk run finished", flush=True)
    ratio = during.latency(0.99) / idle.latency(0.99)
    print(f"bulk fairness: p99 during / idle {ratio:.2f}", flush=True)
    return [
        "## Another merchant's approve while a bulk approve of 1,000 tickets runs",
        "",
        f"One merchant's bulk approve (`POST /v1/tickets/bulk/approve`) of {size} tickets awaiting "
        "review: a workflow applying each approval as an Update of its own, "
        "BULK_IN_FLIGHT batches of BULK_BATCH_SIZE tickets at a time, its tasks at a lower "
        "priority than the tickets' own and under the merchant's fairness key (the dev server "
        "runs with `matching.enableFairness=true`). Each approved ticket goes on to its refund "
        "at the payment sandbox (settling at once) and ends. Meanwhile another merchant approves "
        f"one ticket of its own every {PACE:.0f} s through the API, from the moment the run is "
        "accepted until it has finished; before the run, the same on the idle engine. Latency "
        "from the first send of an approve to its 200 (sent again on 503: "
        + (", ".join(f"{code} x{n}" for code, n in retried.items()) or "none")
        + ").",
        "",
        "| the other merchant's approve | approvals | p50 | p99 |",
        "|---|---|---|---|",
        f"| idle engine | {len(idle.latencies)} | {ms(idle.latency(0.5))} | "
        f"{ms(idle.latency(0.99))} |",
        f"| during the bulk run | {len(during.latencies)} | {ms(during.latency(0.5))} | "
        f"{ms(during.latency(0.99))} |",
        "",
        f"p99 during the run / idle p99: **{ratio:.2f}**. The bulk run: {run['done']} done, "
        f"{run['failed']} failed of {run['total']}, in {bulk_seconds:.0f} s "
        f"({size / bulk_seconds:.1f} approvals/s).",
        "",
    ]


if __name__ == "__main__":
    from bench.__main__ import run_alone

    run_alone(sys.modules[__name__])
