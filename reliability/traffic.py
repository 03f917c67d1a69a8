"""Calls through a fault, as a careful integrator makes them: a transport error or a 5xx is retried
with the same Idempotency-Key until a final answer; every answer is counted, by status and code,
so the report can say what the API answered while the fault lasted."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

RETRY_FOR = 120.0  # seconds one call may keep retrying before the scenario fails it


@dataclass
class Answers:
    """What the API answered: in the fault window (`during`) and overall."""

    during: Counter[str] = field(default_factory=Counter)
    total: Counter[str] = field(default_factory=Counter)
    fault_from: float | None = None
    fault_until: float | None = None
    anomalies: list[str] = field(default_factory=list)  # answers a careful caller would not expect
    slowest_during: float = 0.0  # the longest single call in the fault window, in seconds

    def fault_started(self) -> None:
        self.fault_from = time.monotonic()

    def fault_ended(self) -> None:
        self.fault_until = time.monotonic()

    def in_fault(self, started: float, ended: float) -> bool:
        """A call in flight at any moment of the fault, or up to 5 s after it."""
        if self.fault_from is None or ended < self.fault_from:
            return False
        return self.fault_until is None or started <= self.fault_until + 5.0

    def note(self, at: float, took: float, what: str) -> None:
        self.total[what] += 1
        if self.in_fault(at, at + took):
            self.during[what] += 1
            self.slowest_during = max(self.slowest_during, took)


def describe(response: httpx.Response) -> str:
    code = ""
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        code = str(response.json().get("code", ""))
    return f"{response.status_code} {code}".strip()


async def call(
    answers: Answers,
    client: httpx.AsyncClient,
    method: str,
    url: str,
    body: dict[str, Any] | None = None,
    *,
    key: str | None = None,
) -> httpx.Response:
    """The first answer below 500, retrying transport errors and 5xx with one Idempotency-Key."""
    headers = {"Idempotency-Key": key or str(uuid.uuid4())}
    async with asyncio.timeout(RETRY_FOR):
        while True:
            started = time.monotonic()
            try:
                response = await client.request(method, url, json=body, headers=headers)
            except httpx.TransportError as error:
                answers.note(started, time.monotonic() - started, type(error).__name__)
                await asyncio.sleep(0.5)
                continue
            answers.note(started, time.monotonic() - started, describe(response))
            if response.status_code < 500:
                return response
            retry_after = float(response.headers.get("retry-after", "1"))
            await asyncio.sleep(min(retry_after, 2.0))


def render(counter: Counter[str]) -> str:
    if not counter:
        return "nothing (no call fell in the fault)"
    return ", ".join(f"{what} x{n}" for what, n in sorted(counter.items(), key=lambda x: -x[1]))
