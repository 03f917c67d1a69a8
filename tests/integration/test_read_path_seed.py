"""The read-path benchmark's seed, at a tiny size, on a database of its own: the rows its
set-based SQL makes are ones the API lists and shows, page by page, to those they belong to, and
the tables keep every index and foreign key they had. Nothing here is timed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.auth import Role
from bench.read_api import issue_keys
from bench.read_seed import SEEDED_TABLES, Spread, libpq_url, seed
from domain.tickets import TicketStatus, TicketType
from persistence.db import make_engine, make_session_factory
from settings import LimitSettings, Settings
from tests.support.database import fresh_database
from tests.support.servers import serving

TICKETS = 500


@pytest.fixture
def empty_url(database_url: str) -> Iterator[str]:
    """A migrated database of this test's own on the suite's server."""
    with fresh_database(database_url) as url:
        yield url


def _schema(url: str) -> tuple[set[str], set[str]]:
    """The seeded tables' index names and foreign keys."""
    with psycopg.connect(libpq_url(url)) as conn:
        indexes = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = ANY(%s)", (list(SEEDED_TABLES),)
        ).fetchall()
        keys = conn.execute(
            """SELECT conrelid::regclass::text || ' ' || pg_get_constraintdef(oid)
            FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s)""",
            (list(SEEDED_TABLES),),
        ).fetchall()
    return {row[0] for row in indexes}, {row[0] for row in keys}


def _one(url: str, query: str) -> Any:
    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


async def _all_pages(http: httpx.AsyncClient, params: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: dict[str, str] = {}
    while True:
        answer = await http.get("/v1/tickets", params=params | cursor)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        items += page["items"]
        if page["next_cursor"] is None:
            return items
        cursor = {"cursor": page["next_cursor"]}


async def test_seeded_tickets_are_listed_page_by_page_to_those_they_belong_to(
    empty_url: str, dev_env: WorkflowEnvironment
) -> None:
    schema = _schema(empty_url)
    seeded = await seed(empty_url, Spread.of(TICKETS), datetime.now(UTC), Settings())

    assert seeded.spread.tickets == TICKETS
    assert _schema(empty_url) == schema  # every index and foreign key made again
    scratch = "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'seed_%'"
    assert _one(empty_url, scratch) == 0
    for table in SEEDED_TABLES:
        assert _one(empty_url, f"SELECT count(*) FROM {table}") == TICKETS, table
    # Each ticket is on its own order, of the same buyer and merchant, for a line it has.
    assert (
        _one(
            empty_url,
            """SELECT count(*) FROM tickets t JOIN orders o USING (order_id)
            JOIN ticket_lines tl USING (ticket_no) JOIN order_lines ol
              ON ol.order_id = o.order_id AND ol.line_id = tl.line_id
            WHERE o.buyer_id = t.buyer_id AND o.merchant_id = t.merchant_id
              AND tl.quantity <= ol.quantity""",
        )
        == TICKETS
    )
    big = _one(
        empty_url, "SELECT merchant_id FROM tickets GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    )
    buyer = _one(
        empty_url, "SELECT buyer_id FROM tickets GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    )
    engine = make_engine(empty_url, pool_size=1)
    try:
        keys = await issue_keys(
            make_session_factory(engine),
            [(Role.support, "s-1"), (Role.merchant, big), (Role.buyer, buyer)],
        )
    finally:
        await engine.dispose()
    settings = Settings(database_url=empty_url, limits=LimitSettings(enabled=False))

    def caller(url: str, role: Role, subject: str) -> httpx.AsyncClient:
        key = keys[role, subject]
        return httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"})

    async with serving(create_app(settings, temporal=dev_env.client)) as url:
        async with caller(url, Role.support, "s-1") as support:
            everyone = await _all_pages(support, {"limit": "100"})
            queue = await _all_pages(support, {"status": TicketStatus.completed, "limit": "7"})
            details = [await support.get(f"/v1/tickets/{t['ticket_no']}") for t in everyone[::50]]
        async with caller(url, Role.merchant, big) as merchant:
            mine = await _all_pages(merchant, {"limit": "30"})
        async with caller(url, Role.buyer, buyer) as buyer_http:
            bought = await _all_pages(buyer_http, {"limit": "3"})

    numbers = [t["ticket_no"] for t in everyone]
    assert len(set(numbers)) == TICKETS
    newest_first = [(t["created_at"], t["ticket_no"]) for t in everyone]
    assert newest_first == sorted(newest_first, reverse=True)
    assert {t["status"] for t in everyone} <= set(TicketStatus)
    assert {t["type"] for t in everyone} == set(TicketType)
    assert len(queue) == sum(t["status"] == "completed" for t in everyone) > 0
    assert all(d.status_code == 200 for d in details), [d.text for d in details]
    assert len(mine) == sum(t["merchant_id"] == big for t in everyone) > 1
    assert {t["merchant_id"] for t in mine} == {big}
    assert len(bought) == sum(t["buyer_id"] == buyer for t in everyone) > 1
    assert {t["buyer_id"] for t in bought} == {buyer}
