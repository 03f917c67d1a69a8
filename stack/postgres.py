"""The embedded PostgreSQL (pgserver): started on the data directory, reused across runs."""

from __future__ import annotations

import signal
import warnings
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import psutil
import psycopg
from psycopg import sql

if TYPE_CHECKING:
    import pgserver

DATABASE = "aftersales"


class EmbeddedPostgres:
    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        self._server: pgserver.PostgresServer | None = None

    def start(self) -> None:
        """Start (or attach to) the server; it listens only on a unix socket in its data dir."""
        with warnings.catch_warnings():
            # platformdirs warns at import when XDG_RUNTIME_DIR is unset (containers, CI).
            warnings.simplefilter("ignore")
            import pgserver
        # cleanup_mode=None: the launcher stops the server itself, in its shutdown order.
        self._server = pgserver.get_server(self.pgdata, cleanup_mode=None)

    def ensure_database(self, name: str = DATABASE) -> bool:
        """Create the database unless it exists; True when created."""
        with psycopg.connect(self._server_or_fail().get_uri("postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if exists:
                return False
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True

    def sqlalchemy_url(self, name: str = DATABASE) -> str:
        """`postgresql+psycopg://postgres@/<name>?host=<socket dir>` from pgserver's libpq URI."""
        parts = urlsplit(self._server_or_fail().get_uri(name))
        user = (parts.username or "postgres") + "@"
        host = parts.netloc.rsplit("@", 1)[-1]
        return urlunsplit(parts._replace(scheme="postgresql+psycopg", netloc=user + host))

    def stop(self, timeout: float = 15.0) -> None:
        """Fast shutdown (SIGINT to the postmaster): open sessions are ended, data is flushed."""
        if self._server is None:
            return
        process = self._server.get_postmaster_info().process
        self._server = None
        if process is None or not process.is_running():
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
        except psutil.TimeoutExpired:
            process.kill()

    def _server_or_fail(self) -> pgserver.PostgresServer:
        if self._server is None:
            raise RuntimeError("embedded PostgreSQL is not running")
        return self._server
