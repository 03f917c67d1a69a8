"""The mapped classes' tables, for the statements the worker runs with every ticket's steps.

Those statements are built once (each builder is cached, one statement per shape) over the
tables rather than the ORM classes, with their values as bound parameters: executing one then
costs neither building it again and computing its cache key, nor the ORM's handling of a
statement that names mapped classes. That is about a third of the CPU an ORM-class statement
built on each call costs the worker (docs/BENCHMARKS.md, "The simplest ticket").
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any, cast

from sqlalchemy import BindParameter, Table, Update, bindparam, update

from persistence.models import (
    Buyer,
    Merchant,
    Notification,
    Order,
    OrderLine,
    Refund,
    Ticket,
    TicketLine,
    TimelineEntry,
    Warehouse,
    WatchlistEntry,
)

BUYERS = cast(Table, Buyer.__table__)
MERCHANTS = cast(Table, Merchant.__table__)
NOTIFICATIONS = cast(Table, Notification.__table__)
ORDERS = cast(Table, Order.__table__)
ORDER_LINES = cast(Table, OrderLine.__table__)
REFUNDS = cast(Table, Refund.__table__)
TICKETS = cast(Table, Ticket.__table__)
TICKET_LINES = cast(Table, TicketLine.__table__)
TIMELINE = cast(Table, TimelineEntry.__table__)
WAREHOUSES = cast(Table, Warehouse.__table__)
WATCHLIST = cast(Table, WatchlistEntry.__table__)


def new_values(table: Table, columns: tuple[str, ...]) -> dict[str, BindParameter[Any]]:
    """Each of `columns` set to a parameter named `new_<column>`, typed as its column: no
    parameter is named as a column, which SQLAlchemy would take for one more value to set."""
    return {column: bindparam(f"new_{column}", type_=table.c[column].type) for column in columns}


@cache
def change(table: Table, key: str, columns: tuple[str, ...]) -> Update:
    """Set `columns` of the row whose `key` is the parameter `which`: one statement for each
    set of columns, its values bound as `changed` names them."""
    return (
        update(table).where(table.c[key] == bindparam("which")).values(new_values(table, columns))
    )


def changed(which: object, values: Mapping[str, object]) -> dict[str, object]:
    """The parameters of `change` that set `values` on the row `which`."""
    return {f"new_{column}": value for column, value in values.items()} | {"which": which}
