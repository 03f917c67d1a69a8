"""Reading tickets: `GET /v1/tickets` over a million tickets in PostgreSQL, each caller's list
with each filter, first pages and pages deep by cursor, timed through HTTP; and the plan
PostgreSQL makes of each listing's statements.

A database of its own on the stack's PostgreSQL server, migrated by the engine's migrations,
seeded by set-based SQL (`bench.read_seed`), read by an API process of its own. Timed with the
schema as it is, then again with the listing's indexes (`persistence/migrations/versions/
0006_ticket_list_indexes.py`) dropped, to show what they buy. The database is
dropped at the end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from alembic.script import ScriptDirectory
from psycopg import sql
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.read_api import CpuClock, api_process, issue_keys
from bench.read_cases import Caller, Case, build_cases, ticket_filter
from bench.read_plans import Plan, listing_plans
from bench.read_report import LISTING_INDEXES, PAGE, WARM_UP, Measured, Page, Timed, report
from bench.read_seed import Clock, Spread, libpq_url, seed
from persistence.db import make_engine, make_session_factory
from persistence.migrate import alembic_config, upgrade_async
from reliability.harness import Stack
from settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--read-tickets", type=int, default=1_000_000, help="tickets seeded (1,000,000)"
    )
    parser.add_argument(
        "--read-requests", type=int, default=200, help="timed requests per listing (200)"
    )
    parser.add_argument(
        "--read-pages",
        default="1,10,100",
        help="pages timed of each list, followed by cursor (1,10,100)",
    )
    parser.add_argument(
        "--read-before-requests",
        type=int,
        default=10,
        help="timed requests per listing without the listing's indexes, for at most 3 s (10)",
    )


class Listing:
    """`GET /v1/tickets` as each caller sends it, with its own key."""

    def __init__(self, http: httpx.AsyncClient, keys: dict[Caller, str]) -> None:
        self._http = http
        self._keys = keys

    async def get(self, caller: Caller, params: dict[str, str]) -> httpx.Response:
        return await self._http.get(
            "/v1/tickets",
            params=params,
            headers={"Authorization": f"Bearer {self._keys[caller]}"},
        )

    async def page(self, caller: Caller, params: dict[str, str]) -> dict[str, Any]:
        answer = await self.get(caller, params)
        if answer.status_code != 200:
            raise RuntimeError(f"GET /v1/tickets {params}: {answer.status_code} {answer.text}")
        body: dict[str, Any] = answer.json()
        return body

    async def pages(self, case: Case) -> list[Page]:
        """The pages of the case to time; a single list is followed by `next_cursor` from its
        first page (a list that ends sooner gives its last page instead of the deeper ones)."""
        if len(case.asks) > 1:
            return [Page(case, 1, False, case.asks, None)]
        caller, params = case.asks[0]
        found: list[Page] = []
        cursor: dict[str, str] = {}
        after = None
        for number in range(1, max(case.pages) + 1):
            if number in case.pages:
                found.append(Page(case, number, False, [(caller, params | cursor)], after))
            body = await self.page(caller, params | cursor)
            if body["next_cursor"] is None:
                if number not in case.pages:
                    found.append(Page(case, number, True, [(caller, params | cursor)], after))
                break
            last = body["items"][-1]
            after = (datetime.fromisoformat(last["created_at"]), last["ticket_no"])
            cursor = {"cursor": body["next_cursor"]}
        return found

    async def time(
        self, page: Page, count: int, warm_up: int, within: float | None = None
    ) -> tuple[list[float], Counter[int]]:
        """The latencies of `count` requests for the page, and how many got each status code
        (a listing that outlasts the API's statement bound is answered 503)."""
        answers: Counter[int] = Counter()

        async def send(i: int) -> None:
            answers[(await self.get(*page.asks[i % len(page.asks)])).status_code] += 1

        latencies = await timed(send, count, warm_up, within)
        return latencies, answers


async def timed(
    send: Callable[[int], Awaitable[None]], count: int, warm_up: int, within: float | None = None
) -> list[float]:
    """Seconds each of `count` sends took, one after the other, after `warm_up` untimed; with
    `within`, no more once that many seconds have passed (two at least)."""
    for i in range(warm_up):
        await send(i)
    latencies: list[float] = []
    started = time.monotonic()
    for i in range(count):
        if within is not None and i >= 2 and time.monotonic() - started > within:
            break
        sent = time.perf_counter()
        await send(i)
        latencies.append(time.perf_counter() - sent)
    return latencies


async def measure(args: argparse.Namespace, stack: Stack) -> list[str]:
    return report(await run(stack, args))


async def run(stack: Stack, args: argparse.Namespace) -> Measured:
    started = time.monotonic()
    tickets, pages = args.read_tickets, tuple(int(p) for p in args.read_pages.split(","))
    clock = Clock()
    async with scratch_database(stack) as url:
        with clock.step("migrating and seeding"):
            await upgrade_async(url)
            now = datetime.now(UTC)
            seeded = await seed(url, Spread.of(tickets), now, Settings())
        print(f"read path: {tickets} tickets seeded in {seeded.seconds:.0f} s", flush=True)
        engine = make_engine(url, pool_size=2)
        try:
            cases = await build_cases(engine, now, pages)
            keys = await _keys(engine, cases)
            with tempfile.TemporaryDirectory(prefix="read-path-") as data_dir:
                async with (
                    api_process(url, stack.temporal_address(), Path(data_dir)) as (api_url, pid),
                    httpx.AsyncClient(base_url=api_url, timeout=60) as http,
                ):
                    listing = Listing(http, keys)
                    meter = CpuClock({"api": pid, "postgres": stack.pids()["postgres"]})

                    async def healthz(_: int) -> None:
                        (await http.get("/healthz")).raise_for_status()

                    floor = await timed(healthz, args.read_requests, WARM_UP)
                    with clock.step("following cursors"):
                        to_time = [page for case in cases for page in await listing.pages(case)]
                    with clock.step("timing with the listing's indexes"):
                        with_indexes = [
                            await _time(listing, meter, engine, page, args.read_requests)
                            for page in to_time
                        ]
                    with clock.step("timing without them"):
                        added = _listing_indexes(url)
                        await _drop_indexes(url, added)
                        without = [
                            await _time(
                                listing, meter, engine, page, args.read_before_requests, True
                            )
                            for page in _first_pages(to_time)
                        ]
        finally:
            await engine.dispose()
    return Measured(
        seeded,
        pages,
        sum(p.number for p in to_time if len(p.asks) == 1),
        floor,
        with_indexes,
        without,
        added,
        clock.steps,
        time.monotonic() - started,
    )


@asynccontextmanager
async def scratch_database(stack: Stack) -> AsyncIterator[str]:
    """A database of its own on the stack's PostgreSQL server, dropped after the block."""
    server = stack.engine.url
    name = f"read_path_{uuid.uuid4().hex[:8]}"
    admin = libpq_url(server.set(database="postgres").render_as_string(hide_password=False))
    async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
        await conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
            await conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


async def _keys(engine: AsyncEngine, cases: list[Case]) -> dict[Caller, str]:
    callers = list(dict.fromkeys(caller for case in cases for caller, _ in case.asks))
    issued = await issue_keys(make_session_factory(engine), [(c.role, c.subject) for c in callers])
    return {c: issued[c.role, c.subject] for c in callers}


async def _time(
    listing: Listing,
    meter: CpuClock,
    engine: AsyncEngine,
    page: Page,
    requests: int,
    slow: bool = False,
) -> Timed:
    """The page's requests timed, and its statements explained; `slow`: listings that may take
    seconds each (no warm-up, 3 s of requests)."""
    meter.start()
    if slow:
        latencies, answers = await listing.time(page, requests, 0, 3.0)
    else:
        latencies, answers = await listing.time(page, requests, WARM_UP)
    cpu = meter.stop()
    return Timed(page, latencies, await _plans(engine, page), cpu, answers)


async def _plans(engine: AsyncEngine, page: Page) -> list[Plan]:
    caller, params = page.asks[0]
    return await listing_plans(
        engine,
        caller.scope,
        ticket_filter({k: v for k, v in params.items() if k != "cursor"}),
        limit=PAGE + 1,
        after=page.after,
    )


def _first_pages(pages: list[Page]) -> list[Page]:
    return [page for page in pages if page.number == 1]


def _listing_indexes(url: str) -> list[str]:
    """The names of the indexes the listing's migration adds, from the migration itself."""
    script = ScriptDirectory.from_config(alembic_config(url)).get_revision(LISTING_INDEXES)
    if script is None:
        raise RuntimeError(f"migration {LISTING_INDEXES} is not among the migrations")
    return list(script.module.INDEXES)


async def _drop_indexes(url: str, names: list[str]) -> None:
    """Those indexes dropped, and nothing else: migrating down to the revision before them
    would also undo every later migration, whose columns and tables the API reads."""
    async with await psycopg.AsyncConnection.connect(libpq_url(url), autocommit=True) as conn:
        for name in names:
            await conn.execute(sql.SQL("DROP INDEX CONCURRENTLY {}").format(sql.Identifier(name)))
        await conn.execute("ANALYZE tickets")


if __name__ == "__main__":
    from bench.__main__ import run_alone

    run_alone(sys.modules[__name__])
