"""Engine and session factory; built by each process's composition root, never at import."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


@dataclass(frozen=True)
class Bounds:
    """How long a process waits on PostgreSQL before it hears an error instead of hanging.

    `connect` bounds opening a connection (a stopped server refuses at once; a lost one would
    otherwise be waited on for minutes), `unacknowledged` bounds how long sent data may go
    unacknowledged by the server's host (a network that died under an open connection), `pool`
    bounds the wait for a free connection of the pool, and `statement`, when set, makes the
    server cancel a statement (lock waits included) that runs longer.
    """

    connect: timedelta = timedelta(seconds=3)
    unacknowledged: timedelta = timedelta(seconds=5)
    pool: timedelta = timedelta(seconds=30)
    statement: timedelta | None = None

    def connect_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {
            # libpq counts whole seconds, and at least 2.
            "connect_timeout": max(2, int(self.connect.total_seconds())),
            "tcp_user_timeout": int(self.unacknowledged.total_seconds() * 1000),
            # Idle pooled connections to a vanished host are found dead, not reused to hang.
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 2,
            "keepalives_count": 3,
        }
        if self.statement is not None:
            millis = int(self.statement.total_seconds() * 1000)
            args["options"] = f"-c statement_timeout={millis}"
        return args


def sqlalchemy_url(url: str) -> str:
    """Accept plain `postgresql://` URLs too and use the psycopg 3 driver for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    bounds: Bounds | None = None,
    connection_class: type[psycopg.AsyncConnection[Any]] | None = None,
    pre_ping: bool = True,
) -> AsyncEngine:
    """`bounds` default to ones every process can live with (migrations run long statements);
    `connection_class` replaces psycopg's own (the API's watches its waits). `pre_ping` tests
    each pooled connection with a round trip before it is handed out; without it a connection
    that died while pooled fails the first statement sent on it (and is then discarded)."""
    bounds = bounds or Bounds()
    connect_args = bounds.connect_args()
    if connection_class is not None:
        connect_args["async_creator_fn"] = connection_class.connect
    return create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=10,
        pool_pre_ping=pre_ping,
        pool_timeout=bounds.pool.total_seconds(),
        connect_args=connect_args,
    )


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
