"""How the API notices a PostgreSQL that has stopped answering (SPEC §8, §11).

A server that is gone refuses connections and is answered within the connect timeout. A hung one
(a paused VM, a stalled disk, a stopped process) keeps its connections open and acknowledges what
it is sent, so a statement waits for ever: its `statement_timeout` is the server's own and does
not run while the server does not. The API's connections therefore say when they wait on the
server (`WatchedConnection`), and a request that has waited `SILENCE` on one statement has the
server asked, on a fresh connection, whether it answers at all (`DatabaseProbe`). A server that
answers is slow, and its statement timeout bounds the statement; one that does not is an outage,
and the request is answered at once (api/faults.py).

A commit that hangs is remembered as such: what it was sending may be applied when the server
wakes, so the request's outcome is unknown rather than "nothing was done".
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psycopg
from psycopg.abc import RV, PQGen
from sqlalchemy.engine import URL, make_url

log = logging.getLogger("aftersales.faults")

# One statement waited on this long makes the request ask whether the server answers at all.
SILENCE = timedelta(seconds=2)
# A live server answers a new connection and `SELECT 1` well within this, however busy.
PROBE = timedelta(seconds=1.5)
# A probe's verdict holds this long for every request that asks meanwhile.
VERDICT_KEPT = timedelta(seconds=1)


@dataclass(frozen=True)
class Wait:
    since: float
    committing: bool


@dataclass
class Waits:
    """What one request is waiting on the server for right now."""

    open: dict[int, Wait] = field(default_factory=dict)

    def longest(self) -> Wait | None:
        return min(self.open.values(), key=lambda w: w.since, default=None)


_waits: ContextVar[Waits | None] = ContextVar("aftersales_database_waits", default=None)
_tokens = itertools.count()


def watch(waits: Waits) -> None:
    """The current request's database waits go to `waits` (its tasks inherit the context)."""
    _waits.set(waits)


class WatchedConnection(psycopg.AsyncConnection[Any]):
    """A connection that records, in the current request's `Waits`, each wait on the server."""

    _committing = False

    async def wait(
        self,
        gen: PQGen[RV],
        interval: float = 0.1,
        timeout: float | None = None,  # noqa: ASYNC109 (psycopg's signature)
    ) -> RV:
        waits = _waits.get()
        if waits is None:
            return await super().wait(gen, interval, timeout)
        token = next(_tokens)
        waits.open[token] = Wait(time.monotonic(), self._committing)
        try:
            return await super().wait(gen, interval, timeout)
        finally:
            del waits.open[token]

    async def commit(self) -> None:
        self._committing = True
        try:
            await super().commit()
        finally:
            self._committing = False


def _libpq(url: str | URL) -> str:
    """A libpq connection string for the SQLAlchemy URL the engine was built from."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


class DatabaseProbe:
    """Whether PostgreSQL answers at all, asked on a connection of its own, at most once per
    `VERDICT_KEPT` however many requests wonder at the same moment."""

    def __init__(self, url: str | URL) -> None:
        self._conninfo = _libpq(url)
        self._verdict: tuple[float, bool] | None = None
        self._asking: asyncio.Task[bool] | None = None

    async def answers(self) -> bool:
        now = time.monotonic()
        if self._verdict is not None and now - self._verdict[0] < VERDICT_KEPT.total_seconds():
            return self._verdict[1]
        if self._asking is None or self._asking.done():
            # A probe whose asker was cancelled is left done: its verdict is older than kept.
            self._asking = asyncio.create_task(self._ask())
        asking = self._asking
        try:
            verdict = await asyncio.shield(asking)
        finally:
            if asking.done() and self._asking is asking:
                self._asking = None
        return verdict

    async def _ask(self) -> bool:
        # Its own task, never awaited past `PROBE`: a connection cancelled while the server
        # hangs tries to cancel its statement on the server, which waits on the server too.
        probe = asyncio.create_task(self._select_one())
        done, _ = await asyncio.wait({probe}, timeout=PROBE.total_seconds())
        if not done:
            probe.cancel()
            probe.add_done_callback(_quietly)
            verdict = False
        else:
            verdict = probe.exception() is None
            if not verdict:
                log.warning("database probe failed: %r", probe.exception())
        self._verdict = (time.monotonic(), verdict)
        return verdict

    async def _select_one(self) -> None:
        connection = await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True, connect_timeout=2
        )
        try:
            await connection.execute("SELECT 1")
        finally:
            await connection.close()


def _quietly(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()
