"""End-to-end throughput of the simplest ticket against its bare twin, on one running stack.

Ours: a `refund_only` ticket on a paid, unshipped order, through the HTTP API as a platform and
a buyer make it (the order upserted, the ticket opened), until its workflow has ended: approved
by the engine, refunded at the payment sandbox (settling at once), completed. The twin: the
same shape of history (bench/twin_workflow.py), started and signalled by a client. Both at the
same concurrency on the same dev server, in alternating rounds; the CPU each process used in a
round is read from the kernel (user + system).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory

from api.auth import Role, issue_key
from bench.twin_workflow import SIGNAL, TASK_QUEUE, BareTwin
from persistence.models import Buyer
from reliability.harness import Stack
from tests.support.orders import line, order_body
from tests.support.tickets import recently

PLATFORM = "platform:shop"
ROOT = Path(__file__).resolve().parents[1]
PY_SPY = str(Path(sys.executable).with_name("py-spy"))
# The engine's parts whose CPU a round is charged with, by their names in DATA_DIR/pids.json.
PARTS = ("worker", "temporal", "api", "postgres")


@dataclass
class Round:
    """One round of `count` runs at `concurrency`: wall time, latencies and CPU seconds."""

    count: int
    wall: float
    latencies: list[float]
    cpu: dict[str, float]

    @property
    def per_second(self) -> float:
        return self.count / self.wall

    def latency(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def cpu_ms_per_run(self, part: str) -> float:
        return self.cpu.get(part, 0.0) / self.count * 1000


@dataclass
class Shape:
    """A ticket's history, step by step, as the twin replays it, and its event counts."""

    steps: list[str]
    events: int
    counts: Counter[str] = field(default_factory=Counter)


def shape_of(history: WorkflowHistory) -> Shape:
    """The twin's steps for a ticket's history: each local activity (a marker), activity,
    search-attribute upsert, timer and signal, in order."""
    steps: list[str] = []
    counts: Counter[str] = Counter()
    for event in history.events:
        kind = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
        counts[kind] += 1
        if kind == "MARKER_RECORDED":
            steps.append("local")
        elif kind == "ACTIVITY_TASK_SCHEDULED":
            steps.append("activity")
        elif kind == "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES":
            steps.append("upsert")
        elif kind == "TIMER_STARTED":
            steps.append("timer")
        elif kind == "WORKFLOW_EXECUTION_SIGNALED" and (not steps or steps[-1] != "timer"):
            steps.append("signal")
    return Shape(steps, len(history.events), counts)


class CpuMeter:
    """CPU seconds (user + system) each part used between `start` and `stop`; PostgreSQL's
    backends are counted with their postmaster."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids

    def _read(self) -> dict[str, float]:
        used: dict[str, float] = {}
        for part, pid in self._pids.items():
            try:
                process = psutil.Process(pid)
                group = [process, *process.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            total = 0.0
            for member in group:
                try:
                    times = member.cpu_times()
                except psutil.NoSuchProcess:
                    continue
                total += times.user + times.system
            used[part] = total
        return used

    def start(self) -> None:
        self._started = self._read()

    def stop(self) -> dict[str, float]:
        ended = self._read()
        return {part: ended[part] - self._started.get(part, 0.0) for part in ended}


async def run_all(
    count: int, concurrency: int, one: Callable[[int], Awaitable[None]], meter: CpuMeter
) -> Round:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def timed(i: int) -> None:
        async with gate:
            started = time.monotonic()
            await one(i)
            latencies.append(time.monotonic() - started)

    meter.start()
    started = time.monotonic()
    await asyncio.gather(*(timed(i) for i in range(count)))
    wall = time.monotonic() - started
    return Round(count, wall, latencies, meter.stop())


class Ours:
    """The simplest ticket through the HTTP API, until its workflow ends. Every ticket has a
    buyer of its own, with no history: one buyer's many refunds would make it a risk, and its
    tickets go to a person."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        self._platform = stack.client(PLATFORM, timeout=120)
        self._buyers: list[tuple[str, str]] = []  # (buyer id, API key), used once each

    async def add_buyers(self, count: int) -> None:
        async with self._stack.sessions.begin() as session:
            for _ in range(count):
                buyer_id = f"b-{uuid.uuid4().hex[:12]}"
                session.add(Buyer(buyer_id=buyer_id, name=f"Buyer {buyer_id}", locale="zh-CN"))
                key = await issue_key(session, Role.buyer, buyer_id, "bench buyer")
                self._buyers.append((buyer_id, key))

    async def aclose(self) -> None:
        await self._platform.aclose()

    async def one(self, _: int) -> None:
        ticket_no = await self.open()
        await self._stack.temporal.get_workflow_handle(ticket_no).result()

    async def open(self, *, delivered: bool = False) -> str:
        """A fresh buyer's refund-only ticket on a new order: paid, or delivered yesterday (then
        it waits for its merchant's review)."""
        buyer_id, key = self._buyers.pop()
        order_id = f"B-{uuid.uuid4().hex[:12].upper()}"
        body = order_body(
            [line("L1", 1, 2500)],
            buyer=buyer_id,
            status="delivered" if delivered else "paid",
            method="wallet",
            delivered_at=recently() if delivered else None,
        )
        stored = await self._platform.put(f"/v1/orders/{order_id}", json=body)
        assert stored.status_code in (200, 201), stored.text
        application = {
            "order_id": order_id,
            "type": "refund_only",
            "lines": [{"line_id": "L1", "quantity": 1}],
            "reason_code": "no_longer_needed",
        }
        created = await self._platform.post(
            "/v1/tickets",
            json=application,
            headers={"Authorization": f"Bearer {key}"},
        )
        assert created.status_code == 201, created.text
        ticket_no: str = created.json()["ticket_no"]
        return ticket_no

    async def shape(self) -> Shape:
        ticket_no = await self.open()
        handle = self._stack.temporal.get_workflow_handle(ticket_no)
        await handle.result()
        return shape_of(await handle.fetch_history())


class Twin:
    """The bare twin, started and signalled by a client, until it ends."""

    def __init__(self, client: Client, shape: Shape) -> None:
        self._client = client
        self._steps = shape.steps
        self._signals = sum(1 for s in shape.steps if s in ("timer", "signal"))

    async def one(self, _: int) -> None:
        handle = await self._client.start_workflow(
            BareTwin.run, self._steps, id=f"twin-{uuid.uuid4().hex}", task_queue=TASK_QUEUE
        )
        for _ in range(self._signals):
            await handle.signal(SIGNAL, "x")
        await handle.result()


@contextlib.contextmanager
def twin_worker(address: str) -> Iterator[int]:
    """The twin's worker process while the block runs; yields its pid."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.twin_worker", address], cwd=ROOT, stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line_ = process.stdout.readline()
        if b"polling" not in line_:
            raise RuntimeError(f"the twin's worker did not start: {line_!r}")
        yield process.pid
    finally:
        process.terminate()
        process.wait(30)


@dataclass
class Comparison:
    shape: Shape
    ours: list[Round]
    twin: list[Round]

    @staticmethod
    def median(rounds: list[Round], value: Callable[[Round], float]) -> float:
        return statistics.median(value(r) for r in rounds)

    @property
    def ratio(self) -> float:
        return self.median(self.ours, lambda r: r.per_second) / self.median(
            self.twin, lambda r: r.per_second
        )


@contextlib.contextmanager
def sampling(pid: int, into: Path | None) -> Iterator[None]:
    """py-spy samples `pid` (100 Hz) while the block runs, its collapsed stacks into `into`."""
    if into is None:
        yield
        return
    spy = subprocess.Popen(
        [
            PY_SPY,
            "record",
            "--pid",
            str(pid),
            "--rate",
            "100",
            "--format",
            "raw",
            "--output",
            str(into),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(60)


def meter_for(stack: Stack, twin_pid: int) -> CpuMeter:
    pids = {part: pid for part, pid in stack.pids().items() if part in PARTS}
    return CpuMeter(pids | {"twin-worker": twin_pid})


async def compare(
    stack: Stack,
    meter: CpuMeter,
    *,
    count: int,
    concurrency: int,
    rounds: int,
    warmup: int = 10,
    profile: Path | None = None,
) -> Comparison:
    ours = Ours(stack)
    try:
        await ours.add_buyers(1 + 2 * warmup + rounds * count)
        shape = await ours.shape()
        twin = Twin(stack.temporal, shape)
        await run_all(warmup, concurrency, ours.one, meter)
        await run_all(warmup, concurrency, twin.one, meter)
        ours_rounds, twin_rounds = [], []
        for number in range(rounds):
            with sampling(stack.pids()["worker"], profile if number == 0 else None):
                ours_rounds.append(await run_all(count, concurrency, ours.one, meter))
            twin_rounds.append(await run_all(count, concurrency, twin.one, meter))
            print(
                f"round {number + 1}: ours {ours_rounds[-1].per_second:.1f}/s, "
                f"twin {twin_rounds[-1].per_second:.1f}/s",
                flush=True,
            )
    finally:
        await ours.aclose()
    return Comparison(shape, ours_rounds, twin_rounds)
