"""`make bench` (`python -m bench`): figures measured in one run on this machine, written to
docs/BENCHMARKS.md.

Timed here, never in tests: the machines are shared and noisy, so only medians of repeated
rounds and ratios from one run are quoted. The end-to-end part runs the run command
(`python -m stack`: Temporal dev server, embedded PostgreSQL, worker, API, sandboxes) on free
ports and a fresh data directory, with the payment sandbox settling at once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

from bench import pure, replay
from bench.approvals import Approvals, compare_approvals
from bench.throughput import Comparison, Round, compare, meter_for, twin_worker
from reliability.harness import running_stack

OUT = Path(__file__).resolve().parents[1] / "docs" / "BENCHMARKS.md"
STACK_ENV = {
    "PAYMENT_SANDBOX_SETTLE_DELAYS": "wallet=0,card=0",
    "LIMITS_ENABLED": "false",
    "LOG_LEVEL": "WARNING",
}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--tickets", type=int, default=200, help="tickets per round (200)")
    parser.add_argument("--concurrency", type=int, default=50, help="tickets at once (50)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each (3)")
    parser.add_argument("--out", type=Path, default=OUT, help="where the report goes")
    parser.add_argument(
        "--profile",
        type=Path,
        help="sample the worker with py-spy during the first round of ours, stacks into this file",
    )
    parser.add_argument(
        "--no-e2e", action="store_true", help="only the pure paths (no stack is started)"
    )
    return parser.parse_args()


LEVELS = (1, 10, 50)


async def _end_to_end(args: argparse.Namespace) -> tuple[Comparison, list[Approvals]]:
    per_level = {1: 30, 10: 100, 50: max(50, args.tickets)}
    with tempfile.TemporaryDirectory(prefix="bench-") as root:
        async with running_stack(Path(root), STACK_ENV) as stack:
            with twin_worker(stack.temporal_address()) as twin_pid:
                meter = meter_for(stack, twin_pid)
                try:
                    comparison = await compare(
                        stack,
                        meter,
                        count=args.tickets,
                        concurrency=args.concurrency,
                        rounds=args.rounds,
                        profile=args.profile,
                    )
                    approvals = await compare_approvals(stack, meter, LEVELS, per_level)
                except Exception:
                    print("the run command's last lines:\n" + "".join(stack.output[-40:]))
                    raise
    return comparison, approvals


def _approvals_table(approvals: list[Approvals]) -> list[str]:
    lines = [
        "| callers at once | approvals | ours p50 | ours p99 | bare Update p50 | bare Update p99 "
        "| p99 ours / bare | 503s sent again |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for level in approvals:
        ours, bare = level.ours, level.bare
        lines.append(
            f"| {level.concurrency} | {ours.count} | {_ms(ours.latency(0.5))} | "
            f"{_ms(ours.latency(0.99))} | {_ms(bare.latency(0.5))} | {_ms(bare.latency(0.99))} "
            f"| **{ours.latency(0.99) / bare.latency(0.99):.1f}** | "
            + (", ".join(f"{code} x{n}" for code, n in level.retried.items()) or "none")
            + " |"
        )
    return lines


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _rounds_table(comparison: Comparison) -> list[str]:
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
        lines.append(row(label, _ms(a), _ms(b), f"{a / b:.2f}"))
    worker = median(ours, "cpu_ms_per_run", "worker")
    bare_worker = median(twin, "cpu_ms_per_run", "twin-worker")
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


def _replay_table(costs: list[replay.ReplayCost]) -> list[str]:
    labels = list(costs[0].ms_by_runner)
    lines = [
        "| history | events | " + " | ".join(labels) + " |",
        "|---|---|" + "---|" * len(labels),
    ]
    for cost in costs:
        before = cost.ms_by_runner[labels[0]]
        cells = [
            f"{ms:.1f} ms" + ("" if label == labels[0] else f" ({ms / before:.2f}x)")
            for label, ms in cost.ms_by_runner.items()
        ]
        lines.append(f"| `{cost.history}` | {cost.events} | " + " | ".join(cells) + " |")
    return lines


def _report(
    args: argparse.Namespace,
    pure_us: dict[str, float],
    replays: list[replay.ReplayCost],
    measured: tuple[Comparison, list[Approvals]] | None,
) -> str:
    memory = psutil.virtual_memory().total / 2**30
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench`); do not edit by hand. Figures from one run;",
        "speed is never asserted in tests.",
        "",
        f"- Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {os.cpu_count()} cores, {memory:.0f} GiB, {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.system()} {platform.release()}",
        "",
    ]
    if measured is not None:
        e2e, approvals = measured
        shape = e2e.shape
        counts = shape.counts
        lines += [
            "## The simplest ticket against its bare twin",
            "",
            f"{args.rounds} rounds of {args.tickets} tickets, {args.concurrency} at a time, "
            "alternating with as many runs of the twin, after a warm-up of each. Ours: a "
            "`refund_only` ticket on a paid, unshipped order, through the HTTP API (the order "
            "upserted, the ticket opened), until its workflow has ended (approved by the "
            "engine, refunded at the payment sandbox, which settles at once, completed). The "
            "twin (`bench/twin_workflow.py`): a workflow of the same history shape, whose "
            "activities return at once, started and signalled by a client. CPU: user + system "
            "seconds of each process in the round, divided by the runs; PostgreSQL with its "
            "backends.",
            "",
            f"The ticket's history: {shape.events} events; "
            f"{counts['MARKER_RECORDED']} local activities, "
            f"{counts['ACTIVITY_TASK_SCHEDULED']} activities, "
            f"{counts['WORKFLOW_EXECUTION_SIGNALED']} signals, "
            f"{counts['TIMER_STARTED']} timers, "
            f"{counts['UPSERT_WORKFLOW_SEARCH_ATTRIBUTES']} search-attribute upserts, "
            f"{counts['WORKFLOW_TASK_COMPLETED']} workflow tasks.",
            "",
            *_rounds_table(e2e),
            "",
            "Each round:",
            "",
            "| round | ours runs/s | twin runs/s | ours worker CPU/run | twin worker CPU/run |",
            "|---|---|---|---|---|",
        ]
        for number, (ours, twin) in enumerate(zip(e2e.ours, e2e.twin, strict=True), start=1):
            lines.append(
                f"| {number} | {ours.per_second:.1f} | {twin.per_second:.1f} | "
                f"{ours.cpu_ms_per_run('worker'):.0f} ms | "
                f"{twin.cpu_ms_per_run('twin-worker'):.0f} ms |"
            )
        lines += [
            "",
            "## A merchant's approve against a bare Update",
            "",
            "Tickets on delivered orders waiting for review, approved through the API "
            "(`POST /v1/tickets/{no}/approve`: an Update the ticket's workflow checks, then "
            "answers once the step is recorded in PostgreSQL), against an Update to a waiting "
            "twin that answers it in the workflow task that delivers it, sent by a client to the "
            "same dev server. Each approve carries an Idempotency-Key and is sent again under it "
            "when the API answers 503 (`outcome_unknown`: its 3.5 s bound on the Update passed "
            "while the worker was busy); its latency runs from the first send to the final 200. "
            "One round per level.",
            "",
            *_approvals_table(approvals),
            "",
        ]
    lines += [
        "## The workflow side, replayed",
        "",
        "Recorded histories (`tests/workflows/histories`) replayed in one process, each replay "
        "a new workflow instance as a ticket new to the worker is: what the worker spends on "
        "the workflow itself, without a server or activities. Median CPU per replay over "
        "alternating rounds of three set-ups: the SDK's default sandbox with no bytecode cache "
        "(the workflow modules compiled again for each new instance, as under "
        "PYTHONDONTWRITEBYTECODE: the worker before `worker.keep_bytecode`), the same with "
        "bytecode cached, and the worker's sandbox (`worker.workflow_runner`: the step modules "
        "shared across instances).",
        "",
        *_replay_table(replays),
        "",
        "## Pure paths",
        "",
        f"Median of {pure.ROUNDS} rounds, microseconds per call.",
        "",
        "| path | µs |",
        "|---|---|",
        *(f"| {name} | {micros:.1f} |" for name, micros in pure_us.items()),
        "",
    ]
    return "\n".join(lines)


def _interrupted(signum: int, _frame: object) -> None:
    # A terminated run still stops the stack it started (the run command's children with it).
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupted)
    args = _arguments()
    started = time.monotonic()
    pure_us = pure.measure()
    replays = replay.measure()
    measured = None if args.no_e2e else asyncio.run(_end_to_end(args))
    report = _report(args, pure_us, replays, measured)
    args.out.write_text(report)
    print(report)
    print(f"written to {args.out} in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
