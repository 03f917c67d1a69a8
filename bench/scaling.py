"""The simplest ticket's throughput with one worker process and with more (`WORKER_PROCESSES`),
each count on a run command of its own, started fresh: the same tickets as in
bench/throughput.py, the CPU of every process of the engine."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.throughput import Ours, Round, meter_for, ms, run_all, sent_again
from reliability.harness import Stack, running_stack

WARMUP = 10
OTHERS = ("temporal", "api", "postgres")


def _default_counts() -> str:
    """1, 2 and 4 worker processes, as far as the machine has cores for them."""
    cores = os.cpu_count() or 1
    return ",".join(str(n) for n in (1, 2, 4) if n <= max(2, cores))


def _counts(value: str) -> list[int]:
    counts = [int(part) for part in value.split(",") if part.strip()]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: worker process counts, e.g. 1,2,4")
    return counts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scaling-processes",
        type=_counts,
        default=_counts(_default_counts()),
        help=f"worker process counts to run ({_default_counts()} on this machine)",
    )
    parser.add_argument(
        "--scaling-tickets", type=int, default=200, help="tickets per worker process count (200)"
    )
    parser.add_argument("--scaling-concurrency", type=int, default=50, help="tickets at once (50)")


@dataclass
class Scaled:
    processes: int
    round: Round
    workers: list[str]  # the worker processes' names, as in DATA_DIR/pids.json
    machine_cores_busy: float  # every process on the machine, ours and others'
    retried: Counter[str]  # requests sent again after a 503

    def workers_ms(self) -> float:
        return sum(self.round.cpu_ms_per_run(name) for name in self.workers)

    def cores_busy(self) -> float:
        return sum(self.round.cpu.values()) / self.round.wall


async def _with(processes: int, args: argparse.Namespace) -> Scaled:
    from bench.__main__ import STACK_ENV

    env = STACK_ENV | {"WORKER_PROCESSES": str(processes)}
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as root:
        async with running_stack(Path(root), env) as stack:
            ours = Ours(stack)
            try:
                await ours.add_buyers(WARMUP + args.scaling_tickets)
                meter = meter_for(stack)
                await run_all(WARMUP, args.scaling_concurrency, ours.one, meter)
                before = _machine_cpu()
                measured = await run_all(
                    args.scaling_tickets, args.scaling_concurrency, ours.one, meter
                )
                machine = (_machine_cpu() - before) / measured.wall
            finally:
                await ours.aclose()
            workers = [name for name in stack.pids() if name.startswith("worker")]
    print(f"{processes} worker processes: {measured.per_second:.1f}/s", flush=True)
    return Scaled(processes, measured, workers, machine, ours.retried)


def _machine_cpu() -> float:
    times = psutil.cpu_times()
    return float(times.user + times.system + getattr(times, "nice", 0.0))


def _table(scaled: list[Scaled]) -> list[str]:
    base = scaled[0].round.per_second
    lines = [
        "| worker processes | tickets/s | vs "
        f"{scaled[0].processes} | latency p50 | latency p99 | workers' CPU per ticket (each) "
        "| temporal | api | postgres | cores busy: ours / whole machine |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in scaled:
        r = run.round
        each = ", ".join(f"{r.cpu_ms_per_run(name):.0f}" for name in run.workers)
        others = " | ".join(f"{r.cpu_ms_per_run(part):.0f} ms" for part in OTHERS)
        lines.append(
            f"| {run.processes} | {r.per_second:.1f} | **{r.per_second / base:.2f}** | "
            f"{ms(r.latency(0.5))} | {ms(r.latency(0.99))} | {run.workers_ms():.0f} ms "
            f"({each}) | {others} | {run.cores_busy():.2f} / {run.machine_cores_busy:.2f} |"
        )
    return lines


async def measure(args: argparse.Namespace, stack: Stack) -> list[str]:
    """`stack` stays up, idle, while each count runs on a stack of its own."""
    scaled = [await _with(processes, args) for processes in args.scaling_processes]
    cores = os.cpu_count()
    physical = psutil.cpu_count(logical=False)
    return [
        "## Worker processes",
        "",
        f"The simplest ticket (as above), {args.scaling_tickets} tickets "
        f"{args.scaling_concurrency} at a time after a warm-up of {WARMUP}, on a run command "
        "started afresh for each count of worker processes (`WORKER_PROCESSES`; the first "
        "stack stays up, idle, meanwhile). One round per count. CPU per ticket: user + system "
        "of each process over the round, divided by the tickets; every worker process is "
        "counted on its own. Cores busy: the engine's processes' CPU seconds (workers, "
        "Temporal, API, PostgreSQL) over the round's wall time, and every process on the "
        f"machine's (others' benchmarks included). This machine has {cores} logical cores "
        f"({physical} physical), shared by the worker processes with the API, the Temporal "
        "dev server and PostgreSQL: a second worker process gains only while the one worker "
        "is the part that is full and the other parts leave a core for it. Requests sent "
        "again after a 503 (warm-up included): "
        + "; ".join(f"{run.processes}: {sent_again(run.retried)}" for run in scaled)
        + ".",
        "",
        *_table(scaled),
        "",
    ]


if __name__ == "__main__":
    from bench.__main__ import run_alone

    run_alone(sys.modules[__name__])
