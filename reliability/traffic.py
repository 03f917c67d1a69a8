"""Calls through a fault, as a careful integrator makes them: a transport error or a 5xx is retried
with the same Idempotency-Key until a final answer; every answer is counted, by status and code,
by the kind of call (`endpoint_kind`) and its status and code, so the report can say what the API
answered to each kind of call while the fault lasted."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

RETRY_FOR = 120.0  # seconds one call may keep retrying before the scenario fails it

# What a call does, by method and path; an action on a ticket is named by the action itself.
_KINDS = (
    ("PUT", re.compile(r"^/v1/orders/[^/]+$"), "order"),
    ("POST", re.compile(r"^/v1/tickets$"), "create"),
    ("GET", re.compile(r"^/v1/tickets/[^/]+$"), "read"),
    ("POST", re.compile(r"^/v1/warehouse/scans$"), "scan"),
    ("POST", re.compile(r"^/v1/webhooks/couriers/[^/]+$"), "webhook"),
)
_TICKET_ACTION = re.compile(r"^/v1/tickets/[^/]+/(?P<action>[a-z-]+)$")

Answer = tuple[str, str]  # (kind of call, what it got: "200", "503 outcome_unknown", "ReadError")


def endpoint_kind(method: str, path: str) -> str:
    """`create`, `read`, `approve`, `inspection`, `scan`, ...; else the method and path."""
    path = path.split("?", 1)[0]
    for kind_method, pattern, kind in _KINDS:
        if method == kind_method and pattern.match(path):
            return kind
    if method == "POST" and (action := _TICKET_ACTION.match(path)):
        return action["action"]
    return f"{method} {path}"


@dataclass
class Answers:
    """What the API answered: in the fault window (`during`) and overall."""

    during: Counter[Answer] = field(default_factory=Counter)
    total: Counter[Answer] = field(default_factory=Counter)
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

    def note(self, at: float, took: float, kind: str, what: str) -> None:
        self.total[kind, what] += 1
        if self.in_fault(at, at + took):
            self.during[kind, what] += 1
            self.slowest_during = max(self.slowest_during, took)


@dataclass
class InFlight:
    """How many of the calls it wraps are under way: `await in_flight(approve(...))`."""

    now: int = 0

    async def __call__(self, work: Awaitable[T]) -> T:
        self.now += 1
        try:
            return await work
        finally:
            self.now -= 1


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
    kind = endpoint_kind(method, url)
    async with asyncio.timeout(RETRY_FOR):
        while True:
            started = time.monotonic()
            try:
                response = await client.request(method, url, json=body, headers=headers)
            except httpx.TransportError as error:
                answers.note(started, time.monotonic() - started, kind, type(error).__name__)
                await asyncio.sleep(0.5)
                continue
            answers.note(started, time.monotonic() - started, kind, describe(response))
            if response.status_code < 500:
                return response
            retry_after = float(response.headers.get("retry-after", "1"))
            await asyncio.sleep(min(retry_after, 2.0))


def render(counter: Counter[Answer]) -> str:
    """Per kind of call, the most frequent kind first: `approve: 200 x10, 503 outcome_unknown x3;
    create: 201 x20`."""
    if not counter:
        return "nothing (no call fell in the fault)"
    by_kind: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for (kind, what), n in counter.items():
        by_kind[kind][what] += n
    kinds = sorted(by_kind.items(), key=lambda item: (-item[1].total(), item[0]))
    return "; ".join(
        f"{kind}: "
        + ", ".join(
            f"{what} x{n}" for what, n in sorted(answers.items(), key=lambda x: (-x[1], x[0]))
        )
        for kind, answers in kinds
    )
