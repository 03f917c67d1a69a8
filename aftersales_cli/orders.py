"""`aftersales orders import FILE [--format csv|jsonl] [--dry-run]`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Group, RenderableType
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from aftersales_cli import runtime
from aftersales_cli.order_files import (
    LINE_COLUMNS,
    OPTIONAL_COLUMNS,
    ORDER_COLUMNS,
    FileFormat,
    UnreadableFile,
    read_csv,
    read_jsonl,
    text_lines,
)
from aftersales_cli.order_import import OUTCOMES, Tally, import_orders
from api import faults

app = typer.Typer(
    help="Order snapshots from the platform, in bulk.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

SUFFIXES = {".csv": FileFormat.csv, ".jsonl": FileFormat.jsonl, ".ndjson": FileFormat.jsonl}
_CSV_SHAPE = (
    f"CSV: a header row, then one row per order line. Order columns, repeated on every row of "
    f"the order: {', '.join(ORDER_COLUMNS)} (payment_* are the body's payment.*). Line "
    f"columns: {', '.join(LINE_COLUMNS)}. Optional columns (or empty cells): "
    f"{', '.join(sorted(OPTIONAL_COLUMNS))}. Consecutive rows with the same order_id and "
    "version are one order. Amounts are integers in minor units, times ISO 8601 with an offset."
)


@app.command("import", help=None, epilog=_CSV_SHAPE)
def import_file(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", exists=True, dir_okay=False, readable=True)
    ],
    file_format: Annotated[
        FileFormat | None,
        typer.Option("--format", help="csv or jsonl; by default the file's suffix says"),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="check and count everything, store nothing")
    ] = False,
) -> None:
    """Create or update orders from a CSV or JSON Lines file.

    As `PUT /v1/orders/{order_id}` does, with its checks and its refusal codes:
    validation_error (with the field), invalid_order, stale_order_version,
    order_version_conflict. Good orders are committed whatever the others do; exit status 1
    when any was refused.

    JSON Lines: one order per line, the API's body plus "order_id".
    """
    chosen = file_format or SUFFIXES.get(file.suffix.lower())
    if chosen is None:
        raise typer.BadParameter(
            f"cannot tell the format from {file.name!r}: say --format csv or --format jsonl",
            param_hint="--format",
        )
    runtime.run(_import(file, file.stat().st_size, chosen, dry_run))


async def _import(file: Path, size: int, file_format: FileFormat, dry_run: bool) -> int:
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[orders]} order(s), {task.fields[refused]} refused"),
        TimeRemainingColumn(),
        console=runtime.err(),
    )
    tally = Tally()
    read = read_csv if file_format is FileFormat.csv else read_jsonl
    try:
        async with runtime.database(runtime.settings()) as sessions:
            with progress, file.open("rb") as handle:
                verb = "checking" if dry_run else "importing"
                task = progress.add_task(f"{verb} {file.name}", total=size, orders=0, refused=0)

                def seen(_: str) -> None:
                    progress.update(
                        task,
                        orders=sum(tally.counts.values()),
                        refused=tally.counts["refused"],
                    )

                lines = text_lines(handle, lambda size: progress.advance(task, size))
                await import_orders(sessions, read(lines), tally, dry_run=dry_run, seen=seen)
    except UnreadableFile as unreadable:
        runtime.err().print(f"{file}: {unreadable}", markup=False)
        return runtime.USAGE
    except faults.DATABASE_FAULTS:
        runtime.err().print(_interrupted(tally, dry_run), markup=False)
        raise
    runtime.out().print(summary(tally, dry_run))
    return runtime.PROBLEMS if tally.refused else runtime.OK


def summary(tally: Tally, dry_run: bool) -> RenderableType:
    counts = ", ".join(f"{tally.counts[name]} {name}" for name in OUTCOMES)
    said = Text(f"dry run, nothing stored: {counts}" if dry_run else counts)
    if not tally.refused:
        return said
    table = Table(title="refused", title_justify="left")
    for name in ("line", "order id", "code", "field", "reason"):
        table.add_column(name, no_wrap=name in ("line", "order id", "code"))
    for refused in tally.refused:
        table.add_row(
            str(refused.line),
            refused.order_id or "-",
            refused.refusal.code,
            refused.refusal.field,
            Text(refused.refusal.reason),
        )
    return Group(said, table)


def _interrupted(tally: Tally, dry_run: bool) -> str:
    if dry_run or not tally.committed_through:
        return "the import stopped before any order was committed"
    return (
        f"the import stopped: the orders up to line {tally.committed_through} were committed; "
        "importing the file again stores the rest (the stored ones come back unchanged)"
    )
