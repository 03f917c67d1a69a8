"""`aftersales tickets search | show | overdue | export`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from sqlalchemy import func
from sqlalchemy.orm import raiseload

from aftersales_cli import runtime
from aftersales_cli.formatting import listing, moment, span
from aftersales_cli.ticket_export import export
from aftersales_cli.ticket_filters import (
    Buyer,
    Escalated,
    Kind,
    Merchant,
    OrderId,
    Risk,
    Status,
    TicketFilters,
)
from aftersales_cli.ticket_view import detail, summary_table, workflow_link
from api.services.ticket_view import load_detail
from domain.tickets import TERMINAL_STATUSES
from persistence.models import Ticket

app = typer.Typer(
    help="Find, read and export tickets.", no_args_is_help=True, rich_markup_mode="markdown"
)

# The engine acts on a deadline within moments of it; a ticket later than this is waiting on a
# worker that is down or behind.
LATE = timedelta(minutes=1)

Limit = Annotated[int, typer.Option("--limit", min=1, max=10000, help="at most this many rows")]


@app.command()
def search(
    merchant: Merchant = None,
    buyer: Buyer = None,
    order: OrderId = None,
    status: Status = None,
    type: Kind = None,
    escalated: Escalated = False,
    risk: Risk = None,
    limit: Limit = 50,
) -> None:
    """Tickets newest first, as support's `GET /v1/tickets` finds them."""
    filters = TicketFilters(merchant, buyer, order, status, type, escalated, risk)
    runtime.run(_search(filters, limit))


async def _search(filters: TicketFilters, limit: int) -> int:
    query = (
        filters.query()
        .options(raiseload(Ticket.lines))
        .order_by(Ticket.created_at.desc(), Ticket.ticket_no.desc())
        .limit(limit)
    )
    async with runtime.database(runtime.settings()) as sessions, sessions() as session:
        tickets = list((await session.execute(query)).scalars())
    now = datetime.now(UTC)
    runtime.out().print(summary_table([(t, span(now - t.created_at)) for t in tickets]))
    return runtime.OK


@app.command()
def show(
    ticket_no: Annotated[str, typer.Argument(metavar="TICKET_NO", help="e.g. AS20261123-000042")],
) -> None:
    """The ticket as the API shows it to support, with its workflow in the Temporal UI.

    Its facts and amounts, its lines, its refunds (status, destination, amount) and its
    timeline."""
    runtime.run(_show(ticket_no))


async def _show(ticket_no: str) -> int:
    config = runtime.settings()
    async with runtime.database(config) as sessions, sessions() as session:
        ticket = await load_detail(session, ticket_no, runtime.support(None))
    link = workflow_link(config.ui_url, config.temporal_namespace, ticket.ticket_no)
    runtime.out().print(detail(ticket, link))
    return runtime.OK


@app.command()
def overdue(limit: Limit = 100) -> None:
    """Open tickets past their deadline, and by how long.

    The engine acts on deadlines by itself: a ticket more than a minute late means a worker is
    down or behind (exit status 1)."""
    runtime.run(_overdue(limit))


async def _overdue(limit: int) -> int:
    now = datetime.now(UTC)
    due = (
        TicketFilters()
        .query()
        .where(Ticket.status.not_in(TERMINAL_STATUSES), Ticket.deadline_at < now)
    )
    async with runtime.database(runtime.settings()) as sessions, sessions() as session:
        total = await session.scalar(due.with_only_columns(func.count()))
        rows = await session.execute(
            due.with_only_columns(
                Ticket.ticket_no,
                Ticket.status,
                Ticket.next_actor,
                Ticket.deadline_at,
                Ticket.on_timeout,
            )
            .order_by(Ticket.deadline_at, Ticket.ticket_no)
            .limit(limit)
        )
        late = await session.scalar(
            due.where(Ticket.deadline_at < now - LATE).with_only_columns(func.count())
        )
        oldest = await session.scalar(due.with_only_columns(func.min(Ticket.deadline_at)))
    table = Table()
    for name in ("ticket no", "status", "next actor", "deadline", "late by", "on timeout"):
        table.add_column(name, no_wrap=name in ("ticket no", "deadline"))
    for ticket_no, status, next_actor, deadline_at, on_timeout in rows.all():
        table.add_row(
            ticket_no,
            status,
            next_actor or "-",
            moment(deadline_at),
            span(now - deadline_at) if deadline_at else "-",
            Text(on_timeout or "-"),
        )
    console = runtime.out()
    console.print(listing(f"{total or 0} open ticket(s) past their deadline", table))
    if not late or oldest is None:
        console.print("no ticket is more than a minute past its deadline")
        return runtime.OK
    console.print(
        f"{late} ticket(s) more than a minute past their deadline, the oldest by "
        f"{span(now - oldest)}: the engine acts on deadlines by itself, so a worker is down "
        "or behind (are the worker processes running and polling the task queue?)",
        markup=False,
    )
    return runtime.PROBLEMS


@app.command("export")
def export_csv(
    file: Annotated[Path, typer.Argument(metavar="FILE.csv", dir_okay=False, writable=True)],
    merchant: Merchant = None,
    buyer: Buyer = None,
    order: OrderId = None,
    status: Status = None,
    type: Kind = None,
    escalated: Escalated = False,
    risk: Risk = None,
) -> None:
    """Every ticket the filters select, as CSV.

    Oldest first; amounts in minor units beside the currency, times in ISO 8601 UTC. Streamed,
    so any number of tickets fits."""
    filters = TicketFilters(merchant, buyer, order, status, type, escalated, risk)
    runtime.run(_export(filters, file))


async def _export(filters: TicketFilters, file: Path) -> int:
    console = runtime.err()
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        TextColumn("{task.completed} ticket(s)"),
        TimeElapsedColumn(),
        console=console,
    )
    async with runtime.database(runtime.settings()) as sessions, sessions() as session:
        with progress:
            task = progress.add_task(f"exporting to {file}", total=None)
            written = await export(session, filters, file, lambda n: progress.advance(task, n))
    runtime.out().print(f"exported {written} ticket(s) to {file}", markup=False)
    return runtime.OK
