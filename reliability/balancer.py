"""A TCP round-robin balancer in front of several API processes, skipping one whose port
refuses connections, and the fault suite's stack as callers see it behind it."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass, field, fields

import httpx

from reliability.harness import Stack
from tests.support.servers import free_port

_CHUNK = 65536


@dataclass
class Balancer:
    """A TCP balancer in front of API processes, as one stands in front of a scaled-out API: each
    new connection goes to the next API in turn; an API whose port refuses it (its process is
    gone) is passed over and the connection goes to the next one."""

    upstreams: list[int]
    port: int = field(default_factory=free_port)
    carried: Counter[int] = field(default_factory=Counter)  # connections each API took
    refused: Counter[int] = field(default_factory=Counter)  # turns that found an API gone
    open: Counter[int] = field(default_factory=Counter)  # connections each API holds now
    _turn: int = 0
    _server: asyncio.Server | None = None
    _links: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Balancer:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for writer in list(self._links):
            writer.transport.abort()

    async def _accept(self, client_in: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        for _ in self.upstreams:
            port = self.upstreams[self._turn % len(self.upstreams)]
            self._turn += 1
            try:
                server_in, server = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                self.refused[port] += 1
        else:
            client.transport.abort()
            return
        self.carried[port] += 1
        self.open[port] += 1
        self._links |= {client, server}
        pumps = [
            asyncio.create_task(_pump(client_in, server)),
            asyncio.create_task(_pump(server_in, client)),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            self.open[port] -= 1
            for writer in (client, server):
                self._links.discard(writer)
                writer.close()  # what was written still goes out; a dead API's end is gone


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while chunk := await source.read(_CHUNK):
            sink.write(chunk)
            await sink.drain()


@dataclass
class Balanced(Stack):
    """The stack as its callers see it behind the balancer: every call on a connection of its
    own, so that consecutive calls go to the APIs in turn."""

    @classmethod
    def behind(cls, stack: Stack, balancer: Balancer) -> Balanced:
        parts = {f.name: getattr(stack, f.name) for f in fields(stack)}
        return cls(**parts | {"ports": stack.ports | {"api": balancer.port}})

    def client(self, label: str, timeout: float = 10.0) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.api_url,
            headers={"Authorization": f"Bearer {self.keys[label]}"},
            timeout=timeout,
            limits=httpx.Limits(max_keepalive_connections=0),
        )
