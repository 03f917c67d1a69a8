"""The embedded PostgreSQL as a unit the supervisor keeps up. pg_ctl detaches the postmaster, so
it is not our child: it is watched by its pid and started again through pgserver."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:
    import pgserver

_POLL = 0.5  # seconds between looks at the postmaster
_GONE_WITHIN = 10.0  # seconds for a dead postmaster to leave the process table


class Postmaster:
    name = "postgres"

    def __init__(self, pgdata: Path) -> None:
        """For a server EmbeddedPostgres has started on `pgdata`."""
        self.pgdata = pgdata
        self.log_path = pgdata / "log"  # where pgserver has pg_ctl write the server's log
        self._process = _process_of(self._server())

    @property
    def pid(self) -> int:
        return self._process.pid

    async def start(self) -> None:
        await _gone(self._process)
        server = self._server()
        await asyncio.to_thread(_ensure_running, server)
        self._process = _process_of(server)

    async def wait(self) -> None:
        """Returns once the postmaster is gone; its exit code is its parent's to know, not ours."""
        # Polled: there is no exit to wait for in a process that is not our child.
        while True:
            if not _alive(self._process):
                return
            await asyncio.sleep(_POLL)

    def tail(self, lines: int = 25) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(max(0, log.seek(0, 2) - 65536))
            text = log.read().decode(errors="replace")
        return "".join(text.splitlines(keepends=True)[-lines:])

    def _server(self) -> pgserver.PostgresServer:
        import pgserver  # imported (and its import-time warning silenced) by EmbeddedPostgres

        # pgserver keeps one handle per data directory: this is the one EmbeddedPostgres holds,
        # so its stop() stops the restarted server too.
        return pgserver.get_server(self.pgdata, cleanup_mode=None)


def _ensure_running(server: pgserver.PostgresServer) -> None:
    """What pgserver does when it first starts a server, under the inter-process lock it needs:
    make the data directory reachable again (run as root, the server runs as another user, and
    a parent directory may have lost its permissions since: pytest resets its temp root's), then
    pg_ctl start unless running."""
    with server._lock:
        server.ensure_pgdata_inited()
        server.ensure_postgres_running()


async def _gone(process: psutil.Process) -> None:
    """Until init has reaped a dead postmaster, pgserver would take it for a running one."""
    deadline = time.monotonic() + _GONE_WITHIN
    while process.is_running():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the old postmaster (pid {process.pid}) is still in the way")
        await asyncio.sleep(0.1)


def _process_of(server: pgserver.PostgresServer) -> psutil.Process:
    process = server.get_postmaster_info().process
    if process is None:
        raise RuntimeError(f"embedded PostgreSQL in {server.pgdata} is not running")
    return process


def _alive(process: psutil.Process) -> bool:
    try:
        # A zombie is dead: only a parent that does not reap (a bare container init) keeps one.
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
