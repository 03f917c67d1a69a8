"""`python -m stack.consistency [--repair] [TICKET_NO ...]`: the consistency check by hand.

The same check the worker's Temporal Schedule runs (SPEC §11), against the engine the settings
name: `DATABASE_URL`, or else the embedded PostgreSQL of `make dev` in DATA_DIR. Exit status 1
while a difference remains unrepaired, 0 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.consistency import ConsistencyActivities
from contracts import ConsistencyReport, ConsistencyRequest, DifferenceKind
from persistence.db import make_engine, make_session_factory
from settings import Settings, get_settings
from stack.postgres import EmbeddedPostgres

K = DifferenceKind
MEANING = {
    K.row_ahead: "the row holds a step Temporal never committed",
    K.row_behind: "a write of the workflow's step is in flight or failing",
    K.timeline_ahead: "the timeline has entries the workflow never committed",
    K.timeline_behind: "a timeline entry of the workflow is in flight or failing",
    K.workflow_missing: "the row is open but its workflow is gone or was never started",
    K.workflow_unanswered: "the workflow did not answer",
    K.workflow_task_failing: "its workflow task fails again and again",
    K.step_retrying: "one of its steps keeps failing",
}


@contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """`DATABASE_URL`, or the run command's embedded PostgreSQL (started for the check and
    stopped again when the run command is not running it)."""
    pgdata = settings.data_dir / "postgres"
    if settings.database_url or not pgdata.is_dir():
        yield settings.require_database_url()
        return
    running = (pgdata / "postmaster.pid").exists()
    embedded = EmbeddedPostgres(pgdata)
    embedded.start()
    try:
        yield embedded.sqlalchemy_url()
    finally:
        if not running:
            embedded.stop()


async def check(settings: Settings, request: ConsistencyRequest) -> ConsistencyReport:
    """Settings → engine and session factory → Temporal client → the check."""
    with database_url(settings) as url:
        return await _check(url, settings, request)


async def _check(url: str, settings: Settings, request: ConsistencyRequest) -> ConsistencyReport:
    engine = make_engine(url, pool_size=5)
    try:
        client = await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=pydantic_data_converter,
        )
        check = ConsistencyActivities(
            make_session_factory(engine), client, settings.temporal_task_queue
        )
        return await check.check(request)
    finally:
        await engine.dispose()


def render(report: ConsistencyReport) -> str:
    lines = [
        f"checked {report.tickets_checked} open ticket(s): "
        f"{len(report.differences)} difference(s), {len(report.unrepaired)} unrepaired"
    ]
    for difference in report.differences:
        outcome = "repaired" if difference.repaired else "NOT repaired"
        lines.append(
            f"  {difference.ticket_no}  {difference.kind}  ({MEANING[difference.kind]}) - {outcome}"
        )
        lines.append(f"      row:      {difference.row.brief()}")
        if difference.workflow is not None:
            lines.append(f"      workflow: {difference.workflow.brief()}")
        if difference.detail:
            lines.append(f"      {difference.detail}")
    return "\n".join(lines)


async def run(settings: Settings, argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.consistency", description=__doc__)
    parser.add_argument(
        "--repair",
        action="store_true",
        help="repair rows ahead of Temporal, start workflows whose start was lost",
    )
    parser.add_argument("ticket_nos", nargs="*", metavar="TICKET_NO", help="only these tickets")
    args = parser.parse_args(argv)
    request = ConsistencyRequest(repair=args.repair, ticket_nos=args.ticket_nos or None)
    report = await check(settings, request)
    print(render(report), flush=True)
    return 1 if report.unrepaired else 0


def main() -> int:
    settings = get_settings()
    # Each difference is also logged as a warning; the printed report says the same.
    logging.basicConfig(level=logging.ERROR, format="%(asctime)s %(name)s %(message)s")
    return asyncio.run(run(settings))


if __name__ == "__main__":
    sys.exit(main())
