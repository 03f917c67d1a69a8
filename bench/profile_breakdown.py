"""Where a sampled process spent its time: py-spy's collapsed stacks (`--format raw`, one
`frame;frame;… count` line per distinct stack) sorted into the parts of the worker
(`PARTS`) or of the API (`API_PARTS`).

Each sample goes to the first part whose marker appears anywhere in its stack, in the order of
`PARTS`: database work first (SQLAlchemy runs its statements in greenlets, whose stacks py-spy
sees without the activity that started them, so the markers, not the activity, decide), then
calls to third parties, the rest of the activities, the workflow side, the SDK's own machinery.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("activities: SQL (SQLAlchemy, psycopg)", ("sqlalchemy/", "psycopg/", "greenlet")),
    ("activities: HTTP and SMTP to third parties", ("httpx/", "httpcore/", "aiosmtplib/")),
    ("activities: our code, payload conversion", ("temporalio/worker/_activity.py",)),
    (
        "workflows: our code and the SDK's workflow side",
        (
            "temporalio/worker/_workflow.py",
            "temporalio/worker/_workflow_instance.py",
            "temporalio/worker/workflow_sandbox/",
            "temporalio/bridge/_visitor.py",
            "/workflows/",
        ),
    ),
    ("Temporal SDK core bridge (polling, completing tasks)", ("temporalio/",)),
)
# The API's requests: database work first, as above, then its calls to Temporal, then reading
# and writing bodies (pydantic), then our handlers with the HTTP server and framework around them.
API_PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("SQL (SQLAlchemy, psycopg)", ("sqlalchemy/", "psycopg/", "greenlet")),
    ("Temporal client (Updates, signals, starts)", ("temporalio/",)),
    ("bodies: validation and JSON (pydantic)", ("pydantic/", "pydantic_core")),
    (
        "our handlers, the HTTP server and framework (uvicorn, starlette, FastAPI)",
        ("uvicorn/", "starlette/", "fastapi/"),
    ),
)
OTHER = "event loop and the rest"
Parts = tuple[tuple[str, tuple[str, ...]], ...]


def breakdown(collapsed: Path, parts: Parts = PARTS) -> tuple[int, dict[str, float]]:
    """(samples, share of samples per part, in the order of `parts`, then `OTHER`)."""
    counts: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit():
            continue  # a sample with no Python stack: the process was waiting
        samples = int(number)
        total += samples
        counts[_part(stack, parts)] += samples
    names = [name for name, _ in parts] + [OTHER]
    return total, {name: counts[name] / total if total else 0.0 for name in names}


def _part(stack: str, parts: Parts) -> str:
    for name, markers in parts:
        if any(marker in stack for marker in markers):
            return name
    return OTHER


def table(collapsed: Path, parts: Parts = PARTS) -> list[str]:
    """The breakdown as markdown lines."""
    total, shares = breakdown(collapsed, parts)
    lines = [
        f"{total} samples with a Python stack, at 100 Hz.",
        "",
        "| part | share of samples |",
        "|---|---|",
    ]
    lines += [f"| {name} | {share * 100:.1f} % |" for name, share in shares.items()]
    return lines
