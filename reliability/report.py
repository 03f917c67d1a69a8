"""docs/RELIABILITY.md, written by the suite from its results."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from reliability.runner import Result

DOC = Path(__file__).resolve().parents[1] / "docs" / "RELIABILITY.md"


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def write(results: list[Result], base_seed: int, took: float) -> Path:
    total = sum(len(r.violations) for r in results)
    lines = [
        "# Reliability: the fault suite's results",
        "",
        "Written by `make reliability` (`python -m reliability`); do not edit by hand.",
        "",
        f"- Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {took / 60:.1f} min in all",
        f"- Machine: {os.cpu_count()} cores; every scenario on its own `python -m stack`"
        " (Temporal dev server persisted to `DATA_DIR/temporal/temporal.db`, embedded"
        " PostgreSQL, worker, API and sandboxes as separate supervised processes)",
        f"- Seeds: base {base_seed}; per scenario "
        + ", ".join(f"{r.seed}" for r in results)
        + " (`RELIABILITY_SEED=<base> make reliability` replays the choices;"
        " `python -m reliability --only TEXT --seed <base>` replays the scenarios whose name"
        " contains TEXT)",
        f"- Invariant violations in all: **{total}**",
        "",
        "Recovery: from the fault's start until the killed part was back and `/readyz` answered"
        " 200 (for the worker: until a worker polled its task queue again; for the payment"
        " sandbox: until the supervisor had restarted it; — for a provider that answers badly"
        " but is never down)."
        " Settled: from the end of the fault until every ticket had reached the status its events"
        " and deadlines imply and the provider was quiet. Deadlines: how late each deadline's step"
        " fired (reported, not asserted). What the API answered: every answer to a call in"
        " flight at any moment of the fault or up to 5 s after it, per kind of call (`order`: the"
        " platform's order upsert, `create`: a ticket opened, `read`: a ticket read, `scan`: a"
        " warehouse scan, `webhook`: a courier webhook, else the action taken), transport errors"
        " by name; while the payment provider answers badly, the fault lasts for the whole"
        " traffic. Took: the scenario's wall time, its stack's start and stop included.",
        "",
        "| scenario | tickets | faults injected | invariant violations | recovery | settled |"
        " deadlines | what the API answered during the fault, per kind of call | took |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.scenario} | {r.tickets} ({r.provider_refunds} refunds at the provider)"
            f" | {'; '.join(r.faults) or '—'} | {len(r.violations)}"
            f" | {_seconds(r.recovery)} | {_seconds(r.settled_after)} | {r.lateness_text()}"
            f" | {r.during} | {r.took:.0f} s |"
        )
    violated = [r for r in results if r.violations]
    if violated:
        lines += ["", "## Violations", ""]
        for r in violated:
            lines.append(f"- {r.scenario} (seed {r.seed}):")
            lines += [f"  - {v}" for v in r.violations]
    odd = [r for r in results if r.anomalies]
    if odd:
        lines += [
            "",
            "## Approvals refused while the ticket showed awaiting_merchant_review",
            "",
            "Retried by the suite until the ticket's row moved on or the approval was accepted."
            " 409 `action_in_progress` is in the contract"
            ' (README "One action at a time": the step that led to the review, or the first send'
            " of the same approve, was still being applied); 409 `illegal_transition` while the"
            " row still showed the review means its deadline had already acted in the workflow"
            " and the row, written by the step's activity, had not caught up yet (a worker was"
            " just back). Listed for the record, not counted as violations: the rows are checked"
            " against their workflows once the world is at rest.",
            "",
        ]
        for r in odd:
            # "<ticket_no>: <what>", grouped by what
            by_what: dict[str, list[str]] = {}
            for anomaly in r.anomalies:
                ticket_no, _, what = anomaly.partition(": ")
                by_what.setdefault(what, []).append(ticket_no)
            for what, nos in by_what.items():
                lines.append(
                    f"- {r.scenario} (seed {r.seed}): {len(nos)} x {what}: {', '.join(nos)}"
                )
    lines += [
        "",
        "Invariants checked after each scenario: every ticket in the status its events and"
        " deadlines imply (bounded wait); the consistency check finds no difference between any"
        " open ticket's row and its workflow, and every ended ticket's row equals its closed"
        " workflow's state; one ticket per order however often its creation was retried; no"
        " refund executed twice at the provider (by idempotency key); refunds per order"
        " within what was paid; ledger, orders' and tickets' refunded totals, timeline and provider"
        " agree; every deadline a ticket was left to fired (how late is in the table).",
        "",
    ]
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text("\n".join(lines))
    return DOC
