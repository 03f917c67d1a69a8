"""A TCP proxy in front of PostgreSQL or Temporal that a test can cut and restore.

`cut()` is the server gone: every open connection is closed and the port refuses new ones, as a
stopped PostgreSQL or a killed Temporal server does. `swallow_answers()` is the network losing
the way back: what the client sends still reaches the server, which acts on it, but no answer
comes back, so the client cannot know what happened. `restore()` lets everything through again
on the same port; connections that lost answers are closed first, for their streams are torn.

`hang()` is the server hung (a paused VM, a stopped process): connections stay open and new ones
are accepted, but nothing goes either way; `resume()` lets what was held go on, in order, as a
server woken up reads what waited in its sockets. `hang_at_commit(after=...)` hangs the moment
a client sends `COMMIT` following a statement that contains `after`, the commit itself let
through: the server commits and the client never hears it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from tests.support.servers import free_port

_CHUNK = 65536


@dataclass
class CuttingProxy:
    upstream_host: str
    upstream_port: int
    # A Unix socket to forward to instead (an embedded PostgreSQL listens on one).
    upstream_socket: str | None = None
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    _server: asyncio.Server | None = None
    _swallowing: bool = False
    _flowing: asyncio.Event = field(default_factory=asyncio.Event)
    # Hang once a statement containing this has been sent, or at the next COMMIT after it.
    _hang_after: bytes | None = None
    _at_commit: bool = False
    _commit_due: bool = False
    # Each live connection's two sockets, to close when the proxy cuts.
    _links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def open(self) -> None:
        self._flowing.set()
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, reuse_address=True
        )

    async def cut(self) -> None:
        """Refuse new connections and close the open ones."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self._close_links()

    def swallow_answers(self) -> None:
        """From now on the server hears the clients, and they never hear it."""
        self._swallowing = True

    def hang(self) -> None:
        """From now on nothing passes either way, and nothing is closed."""
        self._flowing.clear()

    def hang_when_sent(self, what: bytes) -> None:
        self._hang_after, self._at_commit, self._commit_due = what, False, False

    def hang_at_commit(self, after: bytes) -> None:
        self._hang_after, self._at_commit, self._commit_due = after, True, False

    def resume(self) -> None:
        self._hang_after, self._commit_due = None, False
        self._flowing.set()

    async def restore(self) -> None:
        if self._swallowing:
            self._swallowing = False
            self._close_links()
        if self._server is None:
            await self.open()

    async def close(self) -> None:
        await self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _close_links(self) -> None:
        for client, server in list(self._links):
            for writer in (client, server):
                with contextlib.suppress(Exception):
                    # Abort rather than close: a stopped server does not say goodbye politely.
                    writer.transport.abort()
        self._links.clear()

    async def _accept(self, client_in: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        await self._flowing.wait()  # a hung server's kernel accepts, and nothing answers
        try:
            if self.upstream_socket is not None:
                server_in, server = await asyncio.open_unix_connection(self.upstream_socket)
            else:
                server_in, server = await asyncio.open_connection(
                    self.upstream_host, self.upstream_port
                )
        except OSError:
            client.transport.abort()
            return
        link = (client, server)
        self._links.add(link)
        pumps = [
            asyncio.create_task(self._pump(client_in, server, answers=False)),
            asyncio.create_task(self._pump(server_in, client, answers=True)),
        ]
        self._tasks.update(pumps)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            self._tasks.difference_update(pumps)
            self._links.discard(link)
            for writer in (client, server):
                writer.transport.abort()

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, answers: bool
    ) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while chunk := await source.read(_CHUNK):
                await self._flowing.wait()
                if answers and self._swallowing:
                    continue
                sink.write(chunk)
                await sink.drain()
                if not answers and self._hang_after is not None:
                    self._watch_for_commit(chunk)

    def _watch_for_commit(self, sent: bytes) -> None:
        assert self._hang_after is not None
        if self._commit_due and b"COMMIT" in sent:
            self.hang()
        elif self._hang_after in sent:
            if self._at_commit:
                self._commit_due = True
            else:
                self.hang()


@contextlib.asynccontextmanager
async def cutting_proxy(upstream: str, socket: str | None = None) -> AsyncIterator[CuttingProxy]:
    """A proxy to `upstream` (`host:port`), or to the Unix `socket`, on a free local port,
    passing everything through."""
    host, _, port = upstream.rpartition(":")
    proxy = CuttingProxy(host or "127.0.0.1", int(port or 0), socket)
    await proxy.open()
    try:
        yield proxy
    finally:
        await proxy.close()
