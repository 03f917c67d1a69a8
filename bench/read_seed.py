"""Many tickets at once, by set-based SQL: merchants (a few big, many small), buyers (most with
a ticket or two, some with many), one order with one line per ticket, the ticket and its line.
Tickets are spread over a year and inserted in the order they were created, as the engine appends
them; the young ones are still open, the old ones nearly all ended. The tables stay as the
migrations made them; their secondary indexes and foreign keys are dropped while the rows go in
and made again after (a foreign key made again checks every row).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from bench import read_catalogue as catalogue
from bench.read_inserts import INSERTS
from settings import Settings

SEEDED_TABLES = ("orders", "order_lines", "tickets", "ticket_lines")
CONNECTIONS = 2  # inserting and indexing at once
DAYS = 365


@dataclass(frozen=True)
class Spread:
    tickets: int
    merchants: int
    buyers: int

    @classmethod
    def of(cls, tickets: int) -> Spread:
        return cls(tickets, max(10, tickets // 1000), max(10, tickets // 5))


@dataclass(frozen=True)
class Seeded:
    spread: Spread
    seconds: float
    database_bytes: int
    ticket_table_bytes: int  # the tickets table with its TOAST and indexes
    steps: dict[str, float]  # seconds per step
    ticket_indexes: dict[str, int]  # bytes of each index of the tickets table


@dataclass
class Clock:
    """Seconds spent in each named step; a step run again adds up."""

    steps: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.steps[name] = self.steps.get(name, 0.0) + time.monotonic() - started


def libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


async def seed(url: str, spread: Spread, now: datetime, settings: Settings) -> Seeded:
    """Seeds a database made for it: while the rows go in, its tables lack their indexes and
    foreign keys (a failure leaves them so)."""
    started = time.monotonic()
    clock = Clock()
    async with contextlib.AsyncExitStack() as opened:
        conns = [await opened.enter_async_context(await _connect(url)) for _ in range(CONNECTIONS)]
        conn = conns[0]
        with clock.step("draws"):
            await _lookup_tables(conn, settings)
            await conn.execute("ANALYZE seed_quotes, seed_odds, seed_shapes")
            await _plan(conn, spread, now)
            await conn.execute("ANALYZE seed_plan")
        indexes, keys = await _drop_indexes_and_keys(conn)
        values = {
            "merchants": spread.merchants,
            "buyers": spread.buyers,
            "now": now.astimezone(UTC),
        }
        with clock.step("inserts"):
            await _shared(conns, [(name, [(s, values) for s in st]) for name, st in INSERTS], clock)
        with clock.step("indexes"):
            await _shared(conns, [(f"index {name}", [(st, None)]) for name, st in indexes], clock)
        with clock.step("foreign keys"):
            for statement in keys:
                await conn.execute(statement)
        await conn.execute(
            "SELECT setval('ticket_no_seq', %s)", (spread.tickets + 1,), prepare=False
        )
        await conn.execute("DROP TABLE seed_plan, seed_quotes, seed_odds, seed_shapes")
        with clock.step("analyze"):
            await conn.execute("ANALYZE")
        sizes = await conn.execute(
            "SELECT pg_database_size(current_database()), pg_total_relation_size('tickets')"
        )
        database_bytes, ticket_bytes = await sizes.fetchone() or (0, 0)
        listed = await conn.execute(
            """SELECT indexrelname, pg_relation_size(indexrelid) FROM pg_stat_user_indexes
            WHERE relname = 'tickets' ORDER BY 1"""
        )
        index_bytes = dict(await listed.fetchall())
    return Seeded(
        spread,
        time.monotonic() - started,
        database_bytes,
        ticket_bytes,
        clock.steps,
        index_bytes,
    )


async def _connect(url: str) -> psycopg.AsyncConnection[Any]:
    conn = await psycopg.AsyncConnection.connect(libpq_url(url), autocommit=True)
    for setting in (
        "SET synchronous_commit = off",
        "SET maintenance_work_mem = '256MB'",
        "SET work_mem = '64MB'",
    ):
        await conn.execute(setting)
    return conn


async def _shared(
    conns: list[psycopg.AsyncConnection[Any]],
    work: list[tuple[str, list[tuple[str, dict[str, Any] | None]]]],
    clock: Clock,
) -> None:
    """Each piece of work (its statements in order) on whichever connection is free first,
    in the order given."""
    queue = list(reversed(work))

    async def run(conn: psycopg.AsyncConnection[Any]) -> None:
        while queue:
            name, statements = queue.pop()
            with clock.step(name):
                for statement, values in statements:
                    await conn.execute(statement, values)

    await asyncio.gather(*(run(conn) for conn in conns))


async def _lookup_tables(conn: psycopg.AsyncConnection[Any], settings: Settings) -> None:
    """Scratch tables the plan joins (dropped once seeded): quotes, the odds as slots, and each
    status's shape."""
    await conn.execute(
        """CREATE UNLOGGED TABLE seed_quotes (currency text, product int, quantity int, reason text,
        shipped boolean, sku text, title text, unit_price bigint, discount bigint, total bigint,
        paid_total bigint, shipping_fee bigint, breakdown jsonb, policy jsonb)"""
    )
    policies = catalogue.policies(settings)
    async with conn.cursor() as cursor:
        await cursor.executemany(
            f"INSERT INTO seed_quotes VALUES ({', '.join(['%s'] * 14)})",
            [
                (
                    q.currency,
                    q.product,
                    q.quantity,
                    q.reason,
                    q.shipped,
                    q.sku,
                    q.title,
                    q.unit_price,
                    q.discount,
                    q.total,
                    q.paid_total,
                    catalogue.SHIPPING[q.currency],
                    json.dumps(q.breakdown),
                    json.dumps(policies[q.currency]),
                )
                for q in catalogue.quotes(settings)
            ],
        )
        await conn.execute(
            """CREATE UNLOGGED TABLE seed_odds (draw text, type text, recent boolean, slot int,
            value text)"""
        )
        odds = [
            ("type", "", False, slot, value)
            for slot, value in catalogue.slots(catalogue.TYPE_ODDS, 100)
        ]
        odds += [
            ("reason", "", False, slot, v)
            for slot, v in catalogue.slots(catalogue.REASON_ODDS, 100)
        ]
        for kind, by_age in catalogue.STATUS_ODDS.items():
            for recent, weights in by_age.items():
                odds += [
                    ("status", str(kind), recent, slot, value)
                    for slot, value in catalogue.slots(weights, 1000)
                ]
        await cursor.executemany("INSERT INTO seed_odds VALUES (%s, %s, %s, %s, %s)", odds)
        await conn.execute(
            """CREATE UNLOGGED TABLE seed_shapes (status text PRIMARY KEY, next_actor text,
            on_timeout text, version int, granted boolean, refunded boolean, closed boolean,
            returned boolean)"""
        )
        await cursor.executemany(
            "INSERT INTO seed_shapes VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    str(status),
                    None if s.next_actor is None else str(s.next_actor),
                    s.on_timeout,
                    s.version,
                    s.granted,
                    s.refunded,
                    s.closed,
                    s.returned,
                )
                for status, s in catalogue.SHAPES.items()
            ],
        )


async def _plan(conn: psycopg.AsyncConnection[Any], spread: Spread, now: datetime) -> None:
    """One row per ticket with every draw made, numbered in the order of creation. Merchant n
    gets a share of about n^(-2/3) (the first has a tenth of all tickets at 1000 merchants);
    buyer n about n^(-1/3)."""
    await conn.execute("SELECT setseed(0.2026)")
    await conn.execute(
        """CREATE UNLOGGED TABLE seed_plan AS
        WITH draws AS (
            SELECT %(now)s::timestamptz - random() * %(days)s * interval '1 day' AS created_at,
                   1 + floor(%(merchants)s * power(random(), 3))::int AS merchant_no,
                   1 + floor(%(buyers)s * power(random(), 1.5))::int AS buyer_no,
                   floor(random() * 100)::int AS type_slot,
                   floor(random() * 100)::int AS reason_slot,
                   floor(random() * 1000)::int AS status_slot,
                   floor(random() * 4)::int AS product,
                   1 + floor(random() * 2)::int AS quantity,
                   random() < %(before_shipment)s AS before_shipment,
                   random() AS spare
            FROM generate_series(1, %(tickets)s)
        ), typed AS (
            SELECT d.*, t.value AS type, r.value AS reason_code,
                   d.created_at > %(now)s::timestamptz - %(recent)s AS recent
            FROM draws d
            JOIN seed_odds t ON t.draw = 'type' AND t.slot = d.type_slot
            JOIN seed_odds r ON r.draw = 'reason' AND r.slot = d.reason_slot
        )
        SELECT row_number() OVER (ORDER BY t.created_at) AS n, t.*, s.value AS status,
               (%(currencies)s::text[])[1 + t.merchant_no %% %(currency_count)s] AS currency,
               t.type = 'refund_only' AND t.before_shipment AS unshipped
        FROM typed t
        JOIN seed_odds s
          ON s.draw = 'status' AND s.type = t.type AND s.recent = t.recent
         AND s.slot = t.status_slot""",
        {
            "now": now.astimezone(UTC),
            "days": DAYS,
            "merchants": spread.merchants,
            "buyers": spread.buyers,
            "before_shipment": catalogue.BEFORE_SHIPMENT / 100,
            "tickets": spread.tickets,
            "recent": catalogue.RECENT,
            "currencies": list(catalogue.CURRENCIES),
            "currency_count": len(catalogue.CURRENCIES),
        },
        prepare=False,
    )


async def _drop_indexes_and_keys(
    conn: psycopg.AsyncConnection[Any],
) -> tuple[list[tuple[str, str]], list[str]]:
    """Drops the seeded tables' secondary indexes and foreign keys; returns the statements that
    make them again as the catalogue defines them: (name, statement) of each index, then those
    of the keys."""
    indexes = await conn.execute(
        """SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
        WHERE t.relname = ANY(%s)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""",
        (list(SEEDED_TABLES),),
    )
    keys = await conn.execute(
        """SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
        FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
        WHERE c.contype = 'f' AND t.relname = ANY(%s)""",
        (list(SEEDED_TABLES),),
    )
    make_keys: list[str] = []
    make_indexes: list[tuple[str, str]] = []
    for table, name, definition in await keys.fetchall():
        await conn.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                sql.Identifier(table), sql.Identifier(name)
            )
        )
        make_keys.append(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
    for name, definition in await indexes.fetchall():
        await conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        make_indexes.append((name, definition))
    return make_indexes, make_keys
