"""The deadline benchmark's figures and their section of docs/BENCHMARKS.md."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from bench.deadline_histories import STEPS
from bench.deadline_plan import Lateness, percentile
from domain.events import TicketEvent


@dataclass(frozen=True)
class Footprint:
    """The stack's memory at one moment, with `waiting` of the benchmark's tickets open."""

    label: str
    waiting: int
    worker_rss: int
    temporal_rss: int
    api_rss: int
    # Workflows in the worker's cache (the SDK's `sticky_cache_size`); None without its metrics.
    cached: int | None


@dataclass(frozen=True)
class Decision:
    """One ticket: its review deadline, the timeline entry that took it out of review, and
    where it stood when the benchmark stopped waiting."""

    ticket_no: str
    deadline: datetime | None
    event: str | None
    at: datetime | None
    reason: str | None
    # The entry's data says the timer woke over a second late (domain/lateness.py).
    flagged_late: bool
    status: str | None
    closed_at: datetime | None

    @property
    def lateness_known(self) -> bool:
        return self.deadline is not None and self.at is not None

    def deadline_and_at(self) -> tuple[datetime, datetime]:
        assert self.deadline is not None and self.at is not None, self.ticket_no
        return self.deadline, self.at

    @property
    def lateness(self) -> float:
        deadline, at = self.deadline_and_at()
        return (at - deadline).total_seconds()

    def why_not_approved(self) -> str | None:
        """None for an automatic approval, else what happened instead."""
        if self.event == TicketEvent.approved_automatically:
            return None
        if self.deadline is None:
            return f"never submitted for review (status {self.status})"
        if self.event is None:
            return f"still {self.status} when the benchmark stopped waiting"
        return f"{self.event}: {(self.reason or '')[:100]}"


@dataclass(frozen=True)
class Results:
    requested: int
    concurrency: int
    rate_planned: float
    target: datetime
    # The part's wall time, from the first buyer stored to the last figure read.
    seconds: float
    opening_seconds: float
    # Refused openings by what the API answered, each sent again as a new ticket, and the
    # openings given up after their last try.
    refused: Counter[str]
    given_up: int
    # Refused with `outcome_unknown`, stored all the same: counted as opened.
    adopted: int
    stopped: str | None
    policies: int
    samples: list[Footprint]
    database: tuple[int, int]
    temporal_store: tuple[int, int]
    decisions: list[Decision]
    lateness: Lateness | None
    # Per sampled approval, seconds from its deadline to each step of deadline_histories.STEPS.
    timers: list[dict[str, float]]
    cache_setting: str

    @property
    def opened(self) -> int:
        return len(self.decisions)


def _mb(size: float) -> str:
    return f"{size / 2**20:.0f} MB"


def _kb(size: float) -> str:
    return f"{size / 2**10:.1f} KB"


def _s(seconds: float) -> str:
    return f"{seconds:.2f} s"


def _after_target(r: Results, moment: datetime) -> str:
    return f"T + {(moment - r.target).total_seconds():.1f} s"


def _footprint_table(r: Results) -> list[str]:
    served = any(s.cached is not None for s in r.samples)
    lines = [
        "| our tickets open | when | worker RSS | Temporal RSS | API RSS |"
        + (" workflows in the worker's cache |" if served else ""),
        "|---|---|---|---|---|" + ("---|" if served else ""),
    ]
    for s in r.samples:
        cached = f" {'-' if s.cached is None else s.cached} |" if served else ""
        lines.append(
            f"| {s.waiting} | {s.label} | {_mb(s.worker_rss)} | {_mb(s.temporal_rss)} "
            f"| {_mb(s.api_rss)} |{cached}"
        )
    if not served:
        lines += [
            "",
            "(How many workflows the worker's cache holds is read from the SDK's metrics, "
            "which the worker serves only with `WORKER_METRICS_ADDRESS` set.)",
        ]
    return lines


def _waiting(r: Results) -> Footprint:
    return next(s for s in r.samples if s.label == "all waiting")


def _cost_table(r: Results) -> list[str]:
    n = max(1, r.opened)
    before, waiting = r.samples[0], _waiting(r)
    grown = waiting.worker_rss - before.worker_rss
    db_before, db_after = r.database
    store_before, store_after = r.temporal_store
    refused = ", ".join(f"{why} x{k}" for why, k in r.refused.items()) or "none"
    if r.refused:
        refused += (
            f"; of these, {r.adopted} `outcome_unknown` were stored all the same, the others "
            f"sent again as new tickets of spare buyers, {r.given_up} given up after "
            "their last try"
        )
    return [
        "| figure | value |",
        "|---|---|",
        f"| tickets opened | {r.opened} of {r.requested} in {r.opening_seconds:.0f} s: "
        f"**{r.opened / r.opening_seconds:.1f}/s**, {r.concurrency} at a time, "
        f"under {r.policies} policy version{'' if r.policies == 1 else 's'} |",
        f"| openings refused | {refused} |",
        f"| worker RSS, all waiting against before | {_mb(waiting.worker_rss)} against "
        f"{_mb(before.worker_rss)}: {_kb(grown / n)} per waiting ticket |",
        f"| Temporal RSS, all waiting against before | {_mb(waiting.temporal_rss)} against "
        f"{_mb(before.temporal_rss)}: "
        f"{_kb((waiting.temporal_rss - before.temporal_rss) / n)} per waiting ticket |",
        f"| PostgreSQL database (`pg_database_size`) | {_mb(db_before)} before, "
        f"{_mb(db_after)} with all waiting: **{_kb((db_after - db_before) / n)} per ticket** |",
        f"| Temporal's SQLite store (with its WAL) | {_mb(store_before)} before, "
        f"{_mb(store_after)} with all waiting: {_kb((store_after - store_before) / n)} "
        "per ticket |",
        f"| the worker's cache of workflows | {r.cache_setting} |",
        f"| this part, from storing the buyers to the last figure | {r.seconds:.0f} s |",
    ]


def _deadline_table(r: Results) -> list[str]:
    deadlines = sorted(d.deadline for d in r.decisions if d.deadline is not None)
    approved = [d for d in r.decisions if d.why_not_approved() is None and d.lateness_known]
    others = Counter(why for d in r.decisions if (why := d.why_not_approved()) is not None)
    lines = ["| figure | value |", "|---|---|"]
    if deadlines:
        lines.append(
            f"| review deadlines | {len(deadlines)}, from {_after_target(r, deadlines[0])} to "
            f"{_after_target(r, deadlines[-1])} (T = {r.target:%H:%M:%S} UTC) |"
        )
    lines.append(f"| approved automatically (seller timeout) | {len(approved)} of {r.opened} |")
    if r.lateness is not None:
        late = r.lateness
        lines += [
            f"| lateness of the approval, p50 | {_s(late.p50)} |",
            f"| lateness of the approval, p99 (goal ≤ 2 s) | **{_s(late.p99)}** |",
            f"| lateness of the approval, max | {_s(late.max)} |",
            f"| lateness of the approval, min | {_s(late.min)} |",
            f"| from T until the last approval was recorded | "
            f"{_s(max((d.deadline_and_at()[1] - r.target).total_seconds() for d in approved))} |",
        ]
    closed = [d.closed_at for d in r.decisions if d.closed_at is not None]
    if closed:
        unfinished = r.opened - len(closed)
        left = f"; {unfinished} not closed when the benchmark stopped waiting" if unfinished else ""
        lines.append(
            "| from T until the last ticket was completed (refunded) | "
            f"{_s((max(closed) - r.target).total_seconds())}{left} |"
        )
    flagged = sum(1 for d in approved if d.flagged_late)
    lines.append(
        "| approvals whose timeline says they were applied late (the timer woke over 1 s after "
        f"the deadline) | {flagged} |"
    )
    lines.append(
        "| not approved automatically | "
        + (", ".join(f"{why} x{k}" for why, k in others.most_common()) or "none")
        + " |"
    )
    return lines


def _timer_table(r: Results) -> list[str]:
    if not r.timers:
        return []
    lines = [
        "",
        f"Where the lateness comes from, in the Temporal histories of {len(r.timers)} of the "
        "approved tickets spread evenly over the lateness order (seconds after each one's "
        "deadline):",
        "",
        "| step | p50 | max |",
        "|---|---|---|",
    ]
    for step, name in STEPS:
        values = [sample[step] for sample in r.timers]
        lines.append(f"| {name} | {_s(percentile(values, 0.5))} | {_s(max(values))} |")
    return lines


def _extrapolation(r: Results, limit: int | None) -> list[str]:
    waiting = _waiting(r)
    grown = (waiting.worker_rss - r.samples[0].worker_rss) / max(1, r.opened)
    if limit is not None and r.opened <= limit:
        return [
            f"All {r.opened} waiting tickets fit in the worker's cache of {limit} workflows, so "
            f"the worker held every one of them: {_kb(grown)} of RSS each. Beyond {limit} the "
            "SDK evicts the least recently used workflow; an evicted one holds no memory in the "
            "worker and is replayed from its history when its timer fires. The worker's RSS "
            f"with 100,000 waiting should therefore stay near its figure at {limit} (about "
            f"{_mb(r.samples[0].worker_rss + grown * limit)} at this slope): an extrapolation "
            "from this run, not a measurement; `--deadline-tickets` above the cache size "
            "measures it.",
        ]
    return [
        f"{r.opened} waiting tickets are more than the worker's cache holds "
        f"({r.cache_setting}): the rows above show its RSS while the cache filled and past it.",
    ]


def _method(r: Results) -> str:
    return " ".join(
        [
            f"{r.requested} `refund_only` tickets on delivered orders, each of a fresh buyer with",
            "no after-sales history (low risk), opened through the HTTP API as the throughput",
            "section opens its own (the order upserted, the ticket opened),",
            f"{r.concurrency} at a time, wait for their merchant's review. Before each batch of",
            f"{r.concurrency} openings the merchant's policy is replaced",
            "(`PUT /v1/merchants/{id}/policy`: no reminders, a review time ending at one common",
            f"moment T, planned from an opening rate of {r.rate_planned:g}/s); a ticket keeps the",
            "policy version it was opened under and its deadline counts from its submission for",
            "review, so every deadline falls at T or seconds after. While all of them wait: the",
            "resident memory (RSS) of the worker, the Temporal dev server and the API, the",
            "PostgreSQL database size and Temporal's SQLite files, against the same before the",
            "first opening (the buyers and their API keys were stored before that). After T, a",
            "ticket's lateness is the `at` of the timeline entry that took it out of review",
            "(`approved_automatically`, the seller timeout, recorded once the buyer's risk has",
            "been assessed again and the refund granted) minus the deadline its",
            "`submitted_for_review` entry set; the benchmark waits until every ticket has left",
            "review and its refund has settled.",
        ]
    )


def section(title: str, r: Results, limit: int | None) -> list[str]:
    stopped = [f"**{r.stopped}.**", ""] if r.stopped else []
    return [
        f"## {title}",
        "",
        _method(r),
        "",
        *stopped,
        *_footprint_table(r),
        "",
        *_cost_table(r),
        "",
        *_extrapolation(r, limit),
        "",
        "Deadlines:",
        "",
        *_deadline_table(r),
        *_timer_table(r),
        "",
    ]
