"""End-to-end throughput of the simplest ticket against its bare twin, on one running stack.

Ours: a `refund_only` ticket on a paid, unshipped order, through the HTTP API as a platform and
a buyer make it (the order upserted, the ticket opened), until its workflow has ended: approved
by the engine, refunded at the payment sandbox (settling at once), completed. The twin: the
same history, workflow task by workflow task (bench/twin_workflow.py `ShapedTwin`), started and
sent its signals and Updates by a client. Both at the same concurrency on the same dev server,
in alternating rounds; the CPU each process used in a round is read from the kernel (user +
system).

Also the machinery the other end-to-end sections use: rounds, the CPU meter, the shape of a
history and the twin that repeats it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle, WorkflowHistory

from api.auth import Role, issue_key
from bench import profile_breakdown
from bench.twin_workflow import SIGNAL, TASK_QUEUE, UPDATE, ShapedTwin, TwinTask
from persistence.models import Buyer
from reliability.harness import Stack
from tests.support.orders import line, order_body
from tests.support.tickets import recently

PLATFORM = "platform:shop"
ROOT = Path(__file__).resolve().parents[1]
PY_SPY = str(Path(sys.executable).with_name("py-spy"))
# The engine's parts whose CPU a round is charged with, by their names in DATA_DIR/pids.json.
PARTS = ("worker", "temporal", "api", "postgres")
TWIN_WORKER = "twin-worker"
# Seconds before a request the API answered 503 is sent again.
AGAIN_AFTER = 0.2
# Seconds a twin may take; longer means it and its client wait for each other.
TWIN_PATIENCE = 300.0


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


# Events a workflow task completes with: the twin repeats these, one for one.
_COMMANDS = frozenset(
    {
        EventType.EVENT_TYPE_MARKER_RECORDED,
        EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
        EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        EventType.EVENT_TYPE_TIMER_STARTED,
        EventType.EVENT_TYPE_TIMER_CANCELED,
        EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED,
    }
)
_ACTIVITY_ENDED = frozenset(
    {
        EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
        EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
        EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
        EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
    }
)
# What a history's counts are reported by, and how each is named.
COUNTED = {
    "WORKFLOW_TASK_COMPLETED": "workflow tasks",
    "ACTIVITY_TASK_SCHEDULED": "activities",
    "MARKER_RECORDED": "markers (local activities, patches)",
    "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES": "search-attribute upserts",
    "TIMER_STARTED": "timers started",
    "TIMER_FIRED": "timers fired",
    "WORKFLOW_EXECUTION_SIGNALED": "signals",
    "WORKFLOW_EXECUTION_UPDATE_ACCEPTED": "Updates",
}


@dataclass(frozen=True)
class Message:
    """A signal or an Update the twin's client sends, once the twin has completed `after`
    commands (the ticket had completed as many when its own came)."""

    kind: str  # "signal" or "update"
    after: int


@dataclass
class Shape:
    """A ticket's history as the twin repeats it, and its event counts."""

    tasks: list[TwinTask]
    messages: list[Message]
    events: int
    counts: Counter[str] = field(default_factory=Counter)

    def count(self, kind: str) -> int:
        return self.counts[kind]


def _kind(event: HistoryEvent) -> str:
    return EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")


def shape_of(history: WorkflowHistory) -> Shape:
    """The twin's workflow tasks for a ticket's history: for each task, the commands it
    completed with (markers, upserts, activities, timers started and cancelled, Updates
    answered) and what woke the next one (activities ended, timers fired, signals and
    Updates). An activity that never ended (a poll the ticket abandoned) is held by the twin
    until it ends; one the ticket cancelled (a courier poll waiting for its next attempt) is
    polled by the twin the same way and cancelled when the ticket cancelled it. The upsert the
    SDK adds to each patch marker is not repeated: the twin's own patches add it."""
    ended = {
        _scheduled_id(event) for event in history.events if event.event_type in _ACTIVITY_ENDED
    }
    stopped = {
        int(event.activity_task_cancel_requested_event_attributes.scheduled_event_id)
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED
    }
    tasks = [TwinTask()]  # what comes before the first workflow task completes
    messages: list[Message] = []
    counts: Counter[str] = Counter()
    commands = 0
    at_completion = 0  # commands when the last workflow task completed
    for event in history.events:
        kind = _kind(event)
        counts[kind] += 1
        task = tasks[-1]
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            tasks.append(TwinTask())
            at_completion = commands
            continue
        if event.event_type in _COMMANDS:
            commands += 1
            if not _with_patch(event):
                task.commands.append(_command(event, ended, stopped))
        elif event.event_type in _ACTIVITY_ENDED:
            task.activities.append(_scheduled_id(event))
        elif event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            task.timers.append(event.timer_fired_event_attributes.started_event_id)
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            task.messages += 1
            messages.append(Message("signal", commands))
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            # Delivered with the task that accepted it: it woke that task.
            tasks[-2].messages += 1
            messages.append(Message("update", at_completion))
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            task.answers += 1
    return Shape(tasks, messages, len(history.events), counts)


def _with_patch(event: HistoryEvent) -> bool:
    """The upsert the SDK adds to each patch marker, which the twin's patches add too."""
    upserted = event.upsert_workflow_search_attributes_event_attributes.search_attributes
    return set(upserted.indexed_fields) == {"TemporalChangeVersion"}


def _scheduled_id(event: HistoryEvent) -> int:
    for attributes in (
        event.activity_task_completed_event_attributes,
        event.activity_task_failed_event_attributes,
        event.activity_task_timed_out_event_attributes,
        event.activity_task_canceled_event_attributes,
    ):
        if attributes.scheduled_event_id:
            return int(attributes.scheduled_event_id)
    raise ValueError(f"event {event.event_id} ends no activity")


def _command(event: HistoryEvent, ended: set[int], stopped: set[int]) -> str:
    if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
        name = event.marker_recorded_event_attributes.marker_name
        return "local" if name == "core_local_activity" else "patch"
    if event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
        return "upsert"
    if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        if event.event_id in stopped:
            return f"poll {event.event_id}"
        return f"{'activity' if event.event_id in ended else 'hold'} {event.event_id}"
    if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED:
        return f"stop {event.activity_task_cancel_requested_event_attributes.scheduled_event_id}"
    if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
        fire = event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        return f"timer {event.event_id} {fire.total_seconds()}"
    return f"cancel {event.timer_canceled_event_attributes.started_event_id}"


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
        """A backend that ended meanwhile takes its CPU seconds with it: never below zero."""
        ended = self._read()
        return {part: max(0.0, ended[part] - self._started.get(part, 0.0)) for part in ended}


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
    tickets go to a person. As an integrator does, the ticket is opened under an
    Idempotency-Key, and a 503 (the API busy: nothing done, or not known yet) is sent again,
    shortly after (counted in `retried`)."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        self._platform = stack.client(PLATFORM, timeout=120)
        self._buyers: list[tuple[str, str]] = []  # (buyer id, API key), used once each
        self.retried: Counter[str] = Counter()

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

    async def open(self, *, delivered: bool = False, merchant: str = "m-1001") -> str:
        """A fresh buyer's refund-only ticket on a new order of `merchant`: paid, or delivered
        yesterday (then it waits for its merchant's review)."""
        ticket_no, _ = await self.open_as_buyer(delivered=delivered, merchant=merchant)
        return ticket_no

    async def open_as_buyer(
        self, *, delivered: bool = False, kind: str = "refund_only", merchant: str = "m-1001"
    ) -> tuple[str, str]:
        """A fresh buyer's ticket of `kind` on a new order of one unit of `merchant`, paid or
        delivered yesterday: its number, and the buyer's API key."""
        buyer_id, key = self._buyers.pop()
        order_id = f"B-{uuid.uuid4().hex[:12].upper()}"
        body = order_body(
            [line("L1", 1, 2500)],
            buyer=buyer_id,
            merchant=merchant,
            status="delivered" if delivered else "paid",
            method="wallet",
            delivered_at=recently() if delivered else None,
        )
        stored = await self.sent("PUT", f"/v1/orders/{order_id}", body)
        assert stored.status_code in (200, 201), stored.text
        application = {
            "order_id": order_id,
            "type": kind,
            "lines": [{"line_id": "L1", "quantity": 1}],
            "reason_code": "no_longer_needed",
        }
        headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": f"bench-{order_id}"}
        created = await self.sent("POST", "/v1/tickets", application, headers)
        assert created.status_code == 201, created.text
        ticket_no: str = created.json()["ticket_no"]
        return ticket_no, key

    async def sent(
        self,
        method: str,
        path: str,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """The API's answer that is not a 503. A connection that dropped under the request
        (a kept-alive one the server was closing) sends it again: every request sent here is
        an upsert or carries an Idempotency-Key."""
        while True:
            try:
                answer = await self._platform.request(method, path, json=body, headers=headers)
            except httpx.TransportError as lost:
                self.retried[f"{method} {path.split('/')[2]} {type(lost).__name__}"] += 1
                continue
            if answer.status_code != 503:
                return answer
            self.retried[f"{method} {path.split('/')[2]} 503 {answer.json().get('code')}"] += 1
            await asyncio.sleep(AGAIN_AFTER)

    async def shape(self) -> Shape:
        ticket_no = await self.open()
        return await shape_when_ended(self._stack.temporal, ticket_no)


async def shape_when_ended(client: Client, workflow_id: str) -> Shape:
    handle = client.get_workflow_handle(workflow_id)
    await handle.result()
    return shape_of(await handle.fetch_history())


class Twin:
    """The shaped twin, started by a client that sends each of its signals and Updates once
    the twin has come as far as the ticket had when its own came (followed in the twin's
    history as the server appends to it), until it ends."""

    def __init__(self, client: Client, shape: Shape) -> None:
        self._client = client
        self._tasks = shape.tasks
        self._messages = shape.messages

    async def one(self, _: int) -> None:
        await self._run()

    async def shape(self) -> Shape:
        """One run's own history, read back as a ticket's is."""
        return await shape_when_ended(self._client, await self._run())

    async def _run(self) -> str:
        workflow_id = f"twin-{uuid.uuid4().hex}"
        handle = await self._client.start_workflow(
            ShapedTwin.run, self._tasks, id=workflow_id, task_queue=TASK_QUEUE
        )
        waiting = deque(self._messages)
        commands = 0
        try:
            async with asyncio.timeout(TWIN_PATIENCE):
                if waiting:
                    async for event in handle.fetch_history_events(wait_new_event=True):
                        commands += event.event_type in _COMMANDS
                        while waiting and waiting[0].after <= commands:
                            await _send(handle, waiting.popleft())
                        if not waiting:
                            break
                await handle.result()
        except TimeoutError:
            raise RuntimeError(
                f"twin {workflow_id} did not end within {TWIN_PATIENCE:.0f} s: "
                f"{commands} commands seen, messages still to send {list(waiting)}"
            ) from None
        return workflow_id


async def _send(handle: WorkflowHandle[ShapedTwin, int], message: Message) -> None:
    if message.kind == "update":
        await handle.execute_update(UPDATE, "x")
    else:
        await handle.signal(SIGNAL, "x")


@contextlib.contextmanager
def twin_worker(address: str, *, sandboxed: bool = False) -> Iterator[int]:
    """The twins' worker process while the block runs; yields its pid."""
    argv = [sys.executable, "-m", "bench.twin_worker", address]
    process = subprocess.Popen(
        [*argv, "--sandboxed"] if sandboxed else argv, cwd=ROOT, stdout=subprocess.PIPE
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
    twin_shape: Shape | None = None  # one twin's own history, to show it matches
    retried: Counter[str] = field(default_factory=Counter)  # requests ours sent again

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
    into.parent.mkdir(parents=True, exist_ok=True)
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
            # Only the thread holding the GIL: where the worker's CPU goes, not the threads
            # waiting for the GIL or blocked in a socket call.
            "--gil",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(60)


def meter_for(stack: Stack, twin_pid: int | None = None) -> CpuMeter:
    """The engine's parts (every worker process by its own name) and the twin's worker."""
    pids = {
        part: pid
        for part, pid in stack.pids().items()
        if part in PARTS or part.startswith("worker-")
    }
    return CpuMeter(pids | ({} if twin_pid is None else {TWIN_WORKER: twin_pid}))


async def alternate(
    label: str,
    ours: Callable[[int], Awaitable[None]],
    twin: Callable[[int], Awaitable[None]],
    meter: CpuMeter,
    *,
    count: int,
    concurrency: int,
    rounds: int,
    warmup: int,
    profile: Callable[[int], contextlib.AbstractContextManager[None]] | None = None,
) -> tuple[list[Round], list[Round]]:
    """A warm-up of each, then `rounds` rounds of ours, each followed by one of the twin."""
    await run_all(warmup, concurrency, ours, meter)
    await run_all(warmup, concurrency, twin, meter)
    ours_rounds, twin_rounds = [], []
    for number in range(rounds):
        with profile(number) if profile is not None else contextlib.nullcontext():
            ours_rounds.append(await run_all(count, concurrency, ours, meter))
        twin_rounds.append(await run_all(count, concurrency, twin, meter))
        print(
            f"{label} round {number + 1}: ours {ours_rounds[-1].per_second:.1f}/s, "
            f"twin {twin_rounds[-1].per_second:.1f}/s",
            flush=True,
        )
    return ours_rounds, twin_rounds


async def compare(
    stack: Stack,
    meter: CpuMeter,
    *,
    count: int,
    concurrency: int,
    rounds: int,
    warmup: int = 10,
    profile: Path | None = None,
    profile_api: Path | None = None,
) -> Comparison:
    ours = Ours(stack)
    try:
        await ours.add_buyers(1 + 2 * warmup + rounds * count)
        shape = await ours.shape()
        twin = Twin(stack.temporal, shape)
        twin_shape = await twin.shape()
        pids = stack.pids()

        @contextlib.contextmanager
        def sampled(number: int) -> Iterator[None]:
            first = number == 0
            with (
                sampling(pids["worker"], profile if first else None),
                sampling(pids["api"], profile_api if first else None),
            ):
                yield

        ours_rounds, twin_rounds = await alternate(
            "simple",
            ours.one,
            twin.one,
            meter,
            count=count,
            concurrency=concurrency,
            rounds=rounds,
            warmup=warmup,
            profile=sampled,
        )
    finally:
        await ours.aclose()
    return Comparison(shape, ours_rounds, twin_rounds, twin_shape, ours.retried)


def sent_again(retried: Counter[str]) -> str:
    return ", ".join(f"{what} x{n}" for what, n in sorted(retried.items())) or "none"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def rounds_table(comparison: Comparison) -> list[str]:
    """Medians of the rounds, ours next to the twin's, and their ratio."""
    ours, twin = comparison.ours, comparison.twin

    def median(rounds: list[Round], figure: str, *args: object) -> float:
        return statistics.median(float(getattr(r, figure)(*args)) for r in rounds)

    def row(name: str, value: str, bare: str, ratio: str = "") -> str:
        return f"| {name} | {value} | {bare} | {ratio} |"

    rate = statistics.median(r.per_second for r in ours)
    bare_rate = statistics.median(r.per_second for r in twin)
    lines = [
        "| figure (median of rounds) | ours | bare twin | ours / twin |",
        "|---|---|---|---|",
        row("throughput, runs/s", f"{rate:.1f}", f"{bare_rate:.1f}", f"**{rate / bare_rate:.2f}**"),
    ]
    for label, q in (("latency p50", 0.5), ("latency p99", 0.99)):
        a, b = median(ours, "latency", q), median(twin, "latency", q)
        lines.append(row(label, ms(a), ms(b), f"{a / b:.2f}"))
    worker = median(ours, "cpu_ms_per_run", "worker")
    bare_worker = median(twin, "cpu_ms_per_run", TWIN_WORKER)
    lines.append(
        row(
            "worker CPU per run",
            f"{worker:.0f} ms",
            f"{bare_worker:.0f} ms",
            f"{worker / bare_worker:.2f}",
        )
    )
    for part in ("temporal", "api", "postgres"):
        a, b = median(ours, "cpu_ms_per_run", part), median(twin, "cpu_ms_per_run", part)
        lines.append(row(f"{part} CPU per run", f"{a:.0f} ms", f"{b:.0f} ms"))
    return lines


def each_round_table(comparison: Comparison) -> list[str]:
    lines = [
        "| round | ours runs/s | twin runs/s | ours worker CPU/run | twin worker CPU/run |",
        "|---|---|---|---|---|",
    ]
    pairs = zip(comparison.ours, comparison.twin, strict=True)
    for number, (ours, twin) in enumerate(pairs, start=1):
        lines.append(
            f"| {number} | {ours.per_second:.1f} | {twin.per_second:.1f} | "
            f"{ours.cpu_ms_per_run('worker'):.0f} ms | "
            f"{twin.cpu_ms_per_run(TWIN_WORKER):.0f} ms |"
        )
    return lines


def histories_table(ours: Shape, twin: Shape | None) -> list[str]:
    """The ticket's history next to one twin's, count for count."""
    lines = ["| history | ticket | twin |", "|---|---|---|"]
    lines.append(f"| events | {ours.events} | {'' if twin is None else twin.events} |")
    for kind, name in COUNTED.items():
        theirs = "" if twin is None else str(twin.count(kind))
        lines.append(f"| {name} | {ours.count(kind)} | {theirs} |")
    return lines


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tickets", type=int, default=200, help="tickets per round (200)")
    parser.add_argument("--concurrency", type=int, default=50, help="tickets at once (50)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each (3)")
    parser.add_argument(
        "--profile",
        type=Path,
        help="sample the worker with py-spy during the first round of ours, stacks into this file",
    )
    parser.add_argument(
        "--profile-api",
        type=Path,
        help="sample the API the same way, its stacks into this file",
    )


async def measure(args: argparse.Namespace, stack: Stack) -> list[str]:
    with twin_worker(stack.temporal_address()) as twin_pid:
        comparison = await compare(
            stack,
            meter_for(stack, twin_pid),
            count=args.tickets,
            concurrency=args.concurrency,
            rounds=args.rounds,
            profile=args.profile,
            profile_api=args.profile_api,
        )
    return [
        "## The simplest ticket against its bare twin",
        "",
        f"{args.rounds} rounds of {args.tickets} tickets, {args.concurrency} at a time, "
        "alternating with as many runs of the twin, after a warm-up of each. Ours: a "
        "`refund_only` ticket on a paid, unshipped order, through the HTTP API (the order "
        "upserted, the ticket opened), until its workflow has ended (approved by the "
        "engine, refunded at the payment sandbox, which settles at once, completed). The "
        "twin (`bench/twin_workflow.py` `ShapedTwin`, run without the SDK's sandbox): the "
        "ticket's history repeated workflow task by workflow task, each task completing with "
        "the same commands (markers, upserts, activities that return at once, timers) and "
        "waiting for what woke the ticket's next task; its client sends each signal and "
        "Update once the twin's history has come as far as the ticket's had when its own "
        "came. CPU: user + system seconds of each process in the round, divided by the runs; "
        f"PostgreSQL with its backends. Requests sent again: {sent_again(comparison.retried)}.",
        "",
        *comparison_tables(comparison),
        *_profiled(args.profile),
        *_profiled(
            args.profile_api,
            "the API's CPU went in the same round",
            "--profile-api",
            profile_breakdown.API_PARTS,
        ),
    ]


def comparison_tables(comparison: Comparison) -> list[str]:
    """The histories side by side, the medians of the rounds, and each round."""
    return [
        *histories_table(comparison.shape, comparison.twin_shape),
        "",
        *rounds_table(comparison),
        "",
        "Each round:",
        "",
        *each_round_table(comparison),
        "",
    ]


def _profiled(
    collapsed: Path | None,
    whose: str = "the worker's CPU went in the first round of ours",
    option: str = "--profile",
    parts: profile_breakdown.Parts = profile_breakdown.PARTS,
) -> list[str]:
    if collapsed is None or not collapsed.exists():
        return []
    return [
        f"Where {whose} (py-spy, `{option}`, stacks in `{collapsed.name}`):",
        "",
        *profile_breakdown.table(collapsed, parts),
        "",
    ]


if __name__ == "__main__":
    from bench.__main__ import run_alone

    run_alone(sys.modules[__name__])
