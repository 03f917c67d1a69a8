"""An API of its own whose PostgreSQL and Temporal are reached through cutting proxies, beside
the test stack's worker, which keeps the real addresses: the faults hit the API alone.

Also a way to catch a request in the middle: hold a row lock or a key that a write of the request
(or of the worker) waits on, learn from PostgreSQL that it waits, cut something, then let it go.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

from api.app import create_app
from api.problems import PROBLEM_JSON
from tests.support.cutting_proxy import CuttingProxy, cutting_proxy
from tests.support.servers import serving
from tests.support.stack import Stack


@dataclass
class FaultyApi:
    url: str
    database: CuttingProxy
    temporal: CuttingProxy
    stack: Stack

    def client(self, label: str) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.stack.keys[label]}"}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=60)


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _database_upstream(url: str) -> tuple[str, str | None]:
    """`host:port` of the server, or the Unix socket it listens on (an embedded one)."""
    parsed = make_url(url)
    port = parsed.port or 5432
    socket_dir = parsed.query.get("host")
    if parsed.host is None and isinstance(socket_dir, str):
        return f"127.0.0.1:{port}", f"{socket_dir}/.s.PGSQL.{port}"
    return f"{parsed.host or '127.0.0.1'}:{port}", None


def through(url: str, proxy: CuttingProxy) -> str:
    """`url` with its host and port those of `proxy`."""
    parsed = make_url(url)
    query = {k: v for k, v in parsed.query.items() if k != "host"}
    return parsed.set(host=proxy.host, port=proxy.port, query=query).render_as_string(
        hide_password=False
    )


@contextlib.asynccontextmanager
async def faulty_api(stack: Stack) -> AsyncIterator[FaultyApi]:
    database_url = stack.settings.require_database_url()
    upstream, socket = _database_upstream(database_url)
    temporal_target = stack.temporal.client.service_client.config.target_host
    async with cutting_proxy(upstream, socket) as database, cutting_proxy(temporal_target) as tp:
        settings = stack.settings.model_copy(
            update={
                "database_url": through(database_url, database),
                "temporal_address": tp.address,
            }
        )
        # No client handed in: the app connects to Temporal as in production, via the proxy.
        async with serving(create_app(settings)) as url:
            yield FaultyApi(url, database, tp, stack)


@contextlib.asynccontextmanager
async def holding(stack: Stack, statement: str, *params: object) -> AsyncIterator[Holder]:
    """A transaction that ran `statement` (a row locked, a key inserted) and stays open until
    released or the block ends: whoever writes the same row or key waits for it."""
    conn = await psycopg.AsyncConnection.connect(_libpq(stack.settings.require_database_url()))
    try:
        await conn.execute(statement, params)
        yield Holder(conn)
    finally:
        await conn.rollback()
        await conn.close()


@dataclass
class Holder:
    conn: psycopg.AsyncConnection[Any]

    async def someone_waits(self, seconds: float = 10) -> None:
        """Until another session waits for this transaction to end."""
        async with asyncio.timeout(seconds):
            while True:
                cursor = await self.conn.execute(_WAITERS)
                row = await cursor.fetchone()
                if row is not None and row[0] > 0:
                    return
                await asyncio.sleep(0.05)

    async def release(self) -> None:
        await self.conn.rollback()


# Those who wait for a lock on this transaction's id: it wrote what they want to write.
_WAITERS = """
SELECT count(*) FROM pg_locks waiting
WHERE NOT waiting.granted AND waiting.locktype = 'transactionid' AND waiting.transactionid = (
    SELECT mine.transactionid FROM pg_locks mine
    WHERE mine.pid = pg_backend_pid() AND mine.locktype = 'transactionid' AND mine.granted
)
"""


async def timed(what: str, call: Awaitable[httpx.Response], *, within: float) -> httpx.Response:
    """The answer to `call`, which must come within `within` seconds; the time is printed."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(max(30.0, 3 * within)):
            response = await call
    except TimeoutError:
        raise AssertionError(f"{what}: no answer in {max(30.0, 3 * within):g} s") from None
    elapsed = time.monotonic() - started
    code = response.json().get("code") if response.status_code >= 400 else ""
    print(f"{what}: {response.status_code} {code} in {elapsed:.2f} s")
    assert elapsed < within, f"{what} took {elapsed:.1f} s"
    return response


def refused(response: httpx.Response, code: str) -> dict[str, Any]:
    """The 503 problem with `code` and a `Retry-After`."""
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert int(response.headers["Retry-After"]) > 0
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body
