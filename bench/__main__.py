"""`make bench` (`python -m bench`): figures measured in one run on this machine, written to
docs/BENCHMARKS.md.

Timed here, never in tests: the machines are shared and noisy, so only medians of repeated
rounds and ratios from one run are quoted. The end-to-end sections run on one run command
(`python -m stack`: Temporal dev server, embedded PostgreSQL, worker, API, sandboxes) on free
ports and a fresh data directory, with the payment sandbox settling at once; a section may
start stacks of its own.

Each end-to-end section is a module (or an object) with `add_arguments(parser)` for its sizes
and `async measure(args, stack) -> list[str]` for its markdown, in `SECTIONS`;
`python -m bench.<module>` runs one alone on a stack of its own (`run_alone`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import psutil

from bench import (
    bulk_fairness,
    deadlines,
    full_return,
    pure,
    read_path,
    replay,
    scaling,
    throughput,
    what_if,
)
from bench.approvals import Approvals, compare_approvals
from bench.throughput import meter_for, ms, twin_worker
from reliability.harness import Stack, running_stack
from tests.support.run_command import free_port

OUT = Path(__file__).resolve().parents[1] / "docs" / "BENCHMARKS.md"
STACK_ENV = {
    "PAYMENT_SANDBOX_SETTLE_DELAYS": "wallet=0,card=0",
    "LIMITS_ENABLED": "false",
    "LOG_LEVEL": "WARNING",
}


class Section(Protocol):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...
    async def measure(self, args: argparse.Namespace, stack: Stack) -> list[str]: ...


class ApprovalsSection:
    """A merchant's approve against a bare Update, at 1, 10 and 50 callers at once."""

    LEVELS = (1, 10, 50)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Sized by --tickets: 30, 100 and max(50, --tickets) approvals."""

    async def measure(self, args: argparse.Namespace, stack: Stack) -> list[str]:
        per_level = {1: 30, 10: 100, 50: max(50, args.tickets)}
        with twin_worker(stack.temporal_address()) as twin_pid:
            levels = await compare_approvals(
                stack, meter_for(stack, twin_pid), self.LEVELS, per_level
            )
        return [
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
            *_approvals_table(levels),
            "",
        ]


def _approvals_table(approvals: list[Approvals]) -> list[str]:
    lines = [
        "| callers at once | approvals | ours p50 | ours p99 | bare Update p50 | bare Update p99 "
        "| p99 ours / bare | 503s sent again |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for level in approvals:
        ours, bare = level.ours, level.bare
        lines.append(
            f"| {level.concurrency} | {ours.count} | {ms(ours.latency(0.5))} | "
            f"{ms(ours.latency(0.99))} | {ms(bare.latency(0.5))} | {ms(bare.latency(0.99))} "
            f"| **{ours.latency(0.99) / bare.latency(0.99):.1f}** | "
            + (", ".join(f"{code} x{n}" for code, n in level.retried.items()) or "none")
            + " |"
        )
    return lines


# In the order they run and are reported, on one stack.
SECTIONS: tuple[Section, ...] = (
    throughput,
    ApprovalsSection(),
    bulk_fairness,
    full_return,
    deadlines,
    read_path,
    what_if,
    scaling,
)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT, help="where the report goes")
    parser.add_argument(
        "--no-e2e", action="store_true", help="only the pure paths (no stack is started)"
    )
    for section in SECTIONS:
        section.add_arguments(parser)
    return parser.parse_args()


async def on_stack(sections: tuple[Section, ...], args: argparse.Namespace) -> list[str]:
    """Every section's lines, measured one after the other on one fresh stack."""
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-") as root:
        # The worker's metrics say how many workflows its cache holds (bench.deadlines).
        env = STACK_ENV | {"WORKER_METRICS_ADDRESS": f"127.0.0.1:{free_port()}"}
        async with running_stack(Path(root), env) as stack:
            for section in sections:
                try:
                    lines += await section.measure(args, stack)
                except Exception:
                    print("the run command's last lines:\n" + "".join(stack.output[-40:]))
                    raise
    return lines


def run_alone(section: Section) -> None:
    """`python -m bench.<section>`: that section alone, on a stack of its own, printed."""
    signal.signal(signal.SIGTERM, _interrupted)
    parser = argparse.ArgumentParser(description=sys.modules["__main__"].__doc__)
    section.add_arguments(parser)
    args = parser.parse_args()
    started = time.monotonic()
    print("\n".join(asyncio.run(on_stack((section,), args))))
    print(f"measured in {time.monotonic() - started:.0f} s", file=sys.stderr)
    _exit()


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
    pure_us: dict[str, float], replays: list[replay.ReplayCost], measured: list[str]
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
        *measured,
        "## The workflow side, replayed",
        "",
        "Recorded histories (`tests/workflows/histories`) replayed in one process, each replay "
        "a new workflow instance as a ticket new to the worker is: what the worker spends on "
        "the workflow itself, without a server or activities. Median CPU per replay over "
        "alternating rounds of four set-ups: the SDK's default sandbox with no bytecode cache "
        "(the workflow modules compiled again for each new instance, as under "
        "PYTHONDONTWRITEBYTECODE: the worker before `worker.keep_bytecode`), the same with "
        "bytecode cached, the worker's sandbox (`worker.workflow_runner(sandboxed=True)`, "
        "WORKFLOW_SANDBOX=true: the step modules shared across instances), and no sandbox, "
        "the worker's default.",
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
    measured = [] if args.no_e2e else asyncio.run(on_stack(SECTIONS, args))
    report = _report(pure_us, replays, measured)
    args.out.write_text(report)
    print(report)
    print(f"written to {args.out} in {time.monotonic() - started:.0f} s")
    _exit()


def _exit() -> None:
    """Done: the stacks are stopped and the report written. Now and then the SDK's Rust
    threads call into Python while it finalizes, which aborts the interpreter (a fatal error
    and exit 134 after a good run): there is nothing left to clean up, so skip it."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
