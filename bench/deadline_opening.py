"""Opening the deadline benchmark's tickets: in batches, each under a merchant policy whose
review time ends at the common deadline, and as an integrator would open them when the API is
busy (a refusal sent again, an opening of unknown outcome looked up rather than repeated)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench.approvals import MERCHANT
from bench.deadline_plan import TargetMissed, batch_starts, review_seconds
from bench.deadline_report import Footprint
from bench.deadline_stack import Gauges
from bench.throughput import Ours
from persistence.models import Ticket
from reliability.harness import Stack

MERCHANT_ID = MERCHANT.partition(":")[2]
# A batch needs at least this long between its policy and the deadline: its openings take a few
# seconds at 50 at a time, and a ticket's deadline counts from its submission for review.
LEAST = timedelta(seconds=15)
ATTEMPTS = 3  # tries of one opening, each as a new ticket
POLICY_ATTEMPTS = 20


async def put_policy(merchant: httpx.AsyncClient, overrides: Callable[[], dict[str, Any]]) -> None:
    """Replaces the merchant's overrides, sent again while the API answers 503 (its database
    connections all busy); `overrides` is asked again for each send."""
    for _ in range(POLICY_ATTEMPTS):
        answer = await merchant.put(f"/v1/merchants/{MERCHANT_ID}/policy", json=overrides())
        if answer.status_code != 503:
            break
        await asyncio.sleep(0.5)
    assert answer.status_code == 200, answer.text


def _problem(error: Exception) -> dict[str, Any]:
    """The problem document a refused opening was answered with; empty for anything else."""
    try:
        problem = json.loads(str(error))
    except ValueError:
        return {}
    return problem if isinstance(problem, dict) else {}


def _refusal(error: Exception, problem: dict[str, Any]) -> str:
    """A refused opening in a few words: the problem's status and code, when it has them."""
    if "status" in problem and "code" in problem:
        return f"{problem['status']} {problem['code']}"
    words = str(error)
    return (words.splitlines()[0] if words else type(error).__name__)[:120]


async def _stored(stack: Stack, ticket_no: str) -> bool:
    """Whether the ticket's row is there after an opening answered `outcome_unknown` (the row is
    committed before the workflow starts, and a later step of the answer may have failed)."""
    for _ in range(5):
        async with stack.sessions() as session:
            if await session.get(Ticket, ticket_no) is not None:
                return True
        await asyncio.sleep(1)
    return False


@dataclass
class Opening:
    tickets: list[str] = field(default_factory=list)
    # Refusals by what the API said; each was sent again as a new ticket while spares lasted.
    refused: Counter[str] = field(default_factory=Counter)
    given_up: int = 0
    # Openings answered `outcome_unknown` whose ticket was stored all the same.
    adopted: int = 0
    policies: int = 0
    stopped: str | None = None
    samples: list[Footprint] = field(default_factory=list)
    seconds: float = 0.0


async def open_all(
    stack: Stack,
    ours: Ours,
    merchant: httpx.AsyncClient,
    gauges: Gauges,
    count: int,
    concurrency: int,
    target: datetime,
    marks: list[int],
) -> Opening:
    """`count` tickets, `concurrency` at a time; before each batch of `concurrency` the policy
    that puts the batch's deadlines at `target`. A batch starts as soon as a place is free, so
    the batches overlap: every ticket was opened after its batch's policy was set, which is all
    its deadline needs to fall at `target` or later. A refused opening (a 503 when the API's
    database connections are all busy, say) is sent again as a new ticket of a spare buyer."""
    gate = asyncio.Semaphore(concurrency)
    opening = Opening()
    pending: set[asyncio.Task[None]] = set()
    marks = list(marks)
    batches = set(batch_starts(count, concurrency))
    spares = spare_buyers(count, concurrency)

    async def one() -> None:
        nonlocal spares
        try:
            for attempt in range(ATTEMPTS):
                if attempt:
                    if spares == 0:
                        break
                    spares -= 1
                try:
                    opening.tickets.append(await ours.open(delivered=True))
                    return
                except (AssertionError, httpx.HTTPError) as error:
                    problem = _problem(error)
                    opening.refused[_refusal(error, problem)] += 1
                # Sent without an Idempotency-Key: what it did is read, not sent again.
                unsure = problem.get("code") == "outcome_unknown" and "ticket_no" in problem
                if unsure and await _stored(stack, problem["ticket_no"]):
                    opening.tickets.append(problem["ticket_no"])
                    opening.adopted += 1
                    return
            opening.given_up += 1
        finally:
            gate.release()

    async def sample() -> None:
        while marks and len(opening.tickets) >= marks[0]:
            opening.samples.append(await gauges.footprint("while opening", marks.pop(0)))

    def review() -> dict[str, Any]:
        seconds = review_seconds(target, datetime.now(UTC), LEAST)
        return {"merchant_review": seconds, "review_reminders": []}

    started = time.monotonic()
    try:
        for i in range(count):
            await gate.acquire()
            await sample()
            if i in batches:
                try:
                    await put_policy(merchant, review)
                except TargetMissed as missed:
                    gate.release()
                    opening.stopped = f"stopped after {i} of {count} openings: {missed}"
                    break
                opening.policies += 1
            task = asyncio.create_task(one())
            pending.add(task)
            task.add_done_callback(pending.discard)
        while pending:
            await asyncio.wait(set(pending), timeout=0.5)
            await sample()
    finally:
        left = list(pending)
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)
    opening.seconds = time.monotonic() - started
    return opening


def spare_buyers(count: int, concurrency: int) -> int:
    """Buyers kept for openings sent again after a refusal."""
    return count // 10 + concurrency
