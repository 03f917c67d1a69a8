"""The statements a ticket listing sends, caught as SQLAlchemy hands them to the driver from
`persistence.tickets.list_tickets` itself, and PostgreSQL's `EXPLAIN (ANALYZE, BUFFERS)` of
each, run with the same parameters."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence import tickets as repo
from persistence.db import make_session_factory

_SCAN = re.compile(
    r"(?P<kind>Index Only Scan|Index Scan|Bitmap Index Scan|Seq Scan)(?: Backward)?"
    r" (?:using|on) (?P<name>\S+)(?: on (?P<table>\S+))?"
)
_DETAILS = ("Buffers:", "Sort Method:", "Heap Blocks:", "Worker ", "Rows Removed by Index Recheck")
_EXECUTION = re.compile(r"Execution Time: (?P<ms>[\d.]+) ms")


@dataclass(frozen=True)
class Plan:
    statement: str
    lines: list[str]

    @property
    def scans(self) -> list[tuple[str, str]]:
        """(kind, index or table) of every scan node, in plan order."""
        found = []
        for line in self.lines:
            if match := _SCAN.search(line):
                found.append((match["kind"], match["name"]))
        return found

    @property
    def indexes(self) -> list[str]:
        return [name for kind, name in self.scans if kind != "Seq Scan"]

    @property
    def seq_scans(self) -> list[str]:
        return [name for kind, name in self.scans if kind == "Seq Scan"]

    @property
    def execution_ms(self) -> float:
        for line in self.lines:
            if match := _EXECUTION.search(line):
                return float(match["ms"])
        return float("nan")

    def compact(self) -> list[str]:
        """The plan's nodes with their conditions, the buffers of the whole, and the execution
        time: without planning's own figures, the nodes' buffers and sort and heap details."""
        shown: list[str] = []
        planning = totalled = False
        for line in self.lines:
            planning = line == "Planning:" or (planning and line.startswith(" "))
            if planning or line.startswith("Planning Time"):
                continue
            if line.strip().startswith("Buffers:") and not totalled:
                totalled = True  # the first is the root's: the whole statement's
            elif line.strip().startswith(_DETAILS):
                continue
            shown.append(line)
        return shown

    def verdict(self) -> str:
        """`index ix_a, ix_b` or `SEQ SCAN on t`, for a table cell."""
        if self.seq_scans:
            return "**seq scan** on " + ", ".join(f"`{t}`" for t in self.seq_scans)
        return "index " + ", ".join(f"`{name}`" for name in dict.fromkeys(self.indexes))


async def listing_plans(
    engine: AsyncEngine,
    scope: repo.Scope,
    where: repo.TicketFilter,
    *,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[Plan]:
    """Runs the listing as the API does and explains each statement it sent, in order (the
    tickets, then their lines)."""
    sent: list[tuple[str, Any]] = []

    def catch(
        _conn: object,
        _cursor: object,
        statement: str,
        parameters: Any,
        _context: object,
        _executemany: bool,
    ) -> None:
        sent.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", catch)
    try:
        async with make_session_factory(engine)() as session:
            await repo.list_tickets(session, scope, where, limit=limit, after=after)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", catch)
    plans = []
    async with engine.connect() as conn:
        for statement, parameters in sent:
            explained = await conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
            )
            plans.append(Plan(statement, [row[0] for row in explained]))
    return plans
