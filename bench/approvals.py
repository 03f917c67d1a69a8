"""A merchant's approve, one round trip through the API (an Update the ticket's workflow takes
and answers once its step is recorded), against a bare Update to a workflow that answers it at
once, at 1, 10 and 50 callers at a time on the same dev server. Latency from the caller's
send to its answer."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass

import httpx

from bench.throughput import CpuMeter, Ours, Round, run_all
from bench.twin_workflow import TASK_QUEUE, UPDATE, BareTwin
from reliability.harness import Stack

MERCHANT = "merchant:m-1001"
# The bare twin's shape: it waits for one signal (the Update counts as one) and ends.
_WAITING = ["signal"]


@dataclass
class Approvals:
    concurrency: int
    ours: Round
    bare: Round
    # 503 answers that were sent again under the same key, by code.
    retried: dict[str, int]


async def reviewed(
    stack: Stack, reviews: Ours, count: int, merchant: str = MERCHANT.partition(":")[2]
) -> list[str]:
    """`count` tickets of `merchant` awaiting its review, opened 10 at a time."""
    gate = asyncio.Semaphore(10)

    async def one() -> str:
        async with gate:
            ticket_no = await reviews.open(delivered=True, merchant=merchant)
        async with stack.client(f"merchant:{merchant}") as shop, asyncio.timeout(60):
            while True:
                ticket = (await shop.get(f"/v1/tickets/{ticket_no}")).json()
                if ticket["status"] == "awaiting_merchant_review":
                    return ticket_no
                await asyncio.sleep(0.2)

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def approved(merchant: httpx.AsyncClient, ticket_no: str, retried: Counter[str]) -> None:
    """The approve as a careful integrator sends it: with a key, sent again under it while the
    engine answers that it does not know yet (503 `outcome_unknown`, the Update still running);
    each 503 counted in `retried` by its code."""
    key = {"Idempotency-Key": f"bench-{ticket_no}"}
    while True:
        answer = await merchant.post(f"/v1/tickets/{ticket_no}/approve", json={}, headers=key)
        if answer.status_code != 503:
            break
        retried[answer.json()["code"]] += 1
    assert answer.status_code == 200, answer.text


async def compare_approvals(
    stack: Stack, meter: CpuMeter, levels: tuple[int, ...], per_level: dict[int, int]
) -> list[Approvals]:
    reviews = Ours(stack)
    results = []
    try:
        await reviews.add_buyers(sum(per_level[c] for c in levels))
        async with stack.client(MERCHANT, timeout=120) as merchant:
            for concurrency in levels:
                level = await _level(stack, reviews, merchant, meter, concurrency, per_level)
                results.append(level)
                print(
                    f"approve at {concurrency}: p99 ours {level.ours.latency(0.99) * 1000:.0f} "
                    f"ms, bare {level.bare.latency(0.99) * 1000:.0f} ms",
                    flush=True,
                )
                await asyncio.sleep(5)  # the approved tickets refunded before the next level
    finally:
        await reviews.aclose()
    return results


async def _level(
    stack: Stack,
    reviews: Ours,
    merchant: httpx.AsyncClient,
    meter: CpuMeter,
    concurrency: int,
    per_level: dict[int, int],
) -> Approvals:
    count = per_level[concurrency]
    retried: Counter[str] = Counter()
    tickets = await reviewed(stack, reviews, count)
    twins = [
        await stack.temporal.start_workflow(
            BareTwin.run, _WAITING, id=f"twin-{uuid.uuid4().hex}", task_queue=TASK_QUEUE
        )
        for _ in range(count)
    ]
    await asyncio.sleep(2)  # the openings' own steps done

    async def approve(i: int) -> None:
        await approved(merchant, tickets[i], retried)

    async def bare(i: int) -> None:
        await twins[i].execute_update(UPDATE, "x")

    ours = await run_all(count, concurrency, approve, meter)
    await asyncio.sleep(2)
    bare_round = await run_all(count, concurrency, bare, meter)
    return Approvals(concurrency, ours, bare_round, dict(retried))
