"""Review deadlines short enough to fall within a scenario, and when they fall: scenarios time
their faults by them and count the deadlines that fell while a part was down."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from datetime import datetime

from reliability.flows import Flow, when_status
from reliability.harness import Stack
from reliability.traffic import Answers

REVIEW_DEADLINE = 25.0  # seconds from a ticket's review until its deadline acts
SHORT_REVIEW = {
    "DEADLINE_MERCHANT_REVIEW": f"PT{REVIEW_DEADLINE:.0f}S",
    "REMINDERS_BEFORE_REVIEW_DEADLINE": "PT10S",
}


async def review_deadlines(stack: Stack, answers: Answers, flows: list[Flow]) -> list[float]:
    """Each flow's review deadline (Unix time), read once its ticket waits for review."""
    tickets = await asyncio.gather(
        *(when_status(stack, answers, f.ticket_no, "awaiting_merchant_review") for f in flows)
    )
    return [datetime.fromisoformat(ticket["deadline_at"]).timestamp() for ticket in tickets]


async def sleep_until(unix_time: float) -> None:
    await asyncio.sleep(max(0.0, unix_time - time.time()))


def fell_between(deadlines: Iterable[float], start: float, end: float) -> int:
    return sum(start <= deadline <= end for deadline in deadlines)
