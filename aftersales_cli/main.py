"""The `aftersales` console script: one typer app, one group of commands per module.

Settings come from `settings.get_settings()` as for every other process (`DATABASE_URL`, or the
embedded PostgreSQL of `make dev` in DATA_DIR; `TEMPORAL_ADDRESS`, `TEMPORAL_UI_URL`, ...).
Exit status: 0 done, 1 refused or problems found, 2 a usage error.
"""

from __future__ import annotations

import logging

import typer

from aftersales_cli import consistency, keys, orders, refunds, tickets

app = typer.Typer(
    name="aftersales",
    help="Operate the after-sales engine: tickets, refunds, orders, consistency, API keys.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
app.add_typer(tickets.app, name="tickets")
app.add_typer(refunds.app, name="refunds")
app.add_typer(orders.app, name="orders")
app.add_typer(keys.app, name="keys")
app.command("consistency")(consistency.consistency)


def main() -> None:
    # The engine's modules log what the commands print (each consistency difference, say).
    logging.basicConfig(level=logging.ERROR, format="%(asctime)s %(name)s %(message)s")
    app()
