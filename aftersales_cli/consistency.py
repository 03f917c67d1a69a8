"""`aftersales consistency [--repair] [TICKET_NO ...]`: the consistency check of SPEC §11.

The same check the worker's Temporal Schedule and `python -m stack.consistency` run
(`stack.consistency.check`: settings → engine → Temporal client → the activity's code), its
findings drawn as a table.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from aftersales_cli import runtime
from aftersales_cli.formatting import listing
from api import faults
from contracts import ConsistencyReport, ConsistencyRequest
from stack.consistency import MEANING, check


def consistency(
    ticket_nos: Annotated[
        list[str] | None, typer.Argument(metavar="TICKET_NO", help="only these tickets")
    ] = None,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair", help="repair rows ahead of Temporal, start workflows whose start was lost"
        ),
    ] = False,
) -> None:
    """Compare each open ticket's row with its workflow's state.

    Exit status 1 while a difference remains (without --repair, whenever one is found)."""
    request = ConsistencyRequest(repair=repair, ticket_nos=ticket_nos or None)
    runtime.run(_consistency(request))


async def _consistency(request: ConsistencyRequest) -> int:
    config = runtime.settings()
    try:
        report = await check(config, request)
    except RuntimeError as error:
        # The check's own connections: no database to reach, or Temporal does not answer.
        raise faults.unavailable("check_unavailable", str(error)) from error
    runtime.out().print(findings(report))
    return runtime.PROBLEMS if report.unrepaired else runtime.OK


def findings(report: ConsistencyReport) -> RenderableType:
    heading = (
        f"checked {report.tickets_checked} open ticket(s): "
        f"{len(report.differences)} difference(s), {len(report.unrepaired)} unrepaired"
    )
    table = Table()
    for name in ("ticket no", "difference", "meaning", "row", "workflow", "repaired", "detail"):
        table.add_column(name, no_wrap=name in ("ticket no", "difference"))
    for difference in report.differences:
        table.add_row(
            difference.ticket_no,
            difference.kind,
            MEANING[difference.kind],
            difference.row.brief(),
            difference.workflow.brief() if difference.workflow else "-",
            "repaired" if difference.repaired else "NOT repaired",
            Text(difference.detail or "-"),
        )
    return listing(heading, table)
