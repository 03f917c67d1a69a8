"""An HTTP proxy in front of a payment provider that can keep the provider's answer to itself.

Every request is forwarded. While the proxy holds, a call to the held route (the one that creates
a refund) is forwarded too, and the provider's answer is recorded, but the caller never gets it:
the provider has accepted the refund and the caller cannot know. That is the window in which a
worker that dies leaves an accepted refund unrecorded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
from fastapi import FastAPI, Request, Response

from tests.support.servers import serving

# Hop-by-hop headers, and those httpx sets itself from the body it actually sends or received.
_NOT_FORWARDED = frozenset(
    {
        "host",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "content-encoding",
        "accept-encoding",
    }
)


@dataclass(frozen=True)
class Answered:
    """A call to the held route and what the provider answered it."""

    method: str
    path: str
    status: int
    body: bytes
    held: bool


@dataclass
class HoldingProxy:
    upstream: str
    held_method: str = "POST"
    held_path: str = "/v1/refunds"
    holding: bool = True
    url: str = ""
    answered: list[Answered] = field(default_factory=list)
    _first_held: asyncio.Event = field(default_factory=asyncio.Event)
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    async def provider_accepted(self) -> Answered:
        """The first held answer, once the provider has given it (the caller bounds the wait)."""
        await self._first_held.wait()
        return next(answer for answer in self.answered if answer.held)

    def pass_through(self) -> None:
        """Stop holding; held callers get their answer now (a dead one never reads it)."""
        self.holding = False
        self._released.set()

    def app(self, http: httpx.AsyncClient) -> FastAPI:
        app = FastAPI()

        async def forward(request: Request) -> Response:
            target = self.upstream + request.url.path
            if request.url.query:
                target += "?" + request.url.query
            upstream = await http.request(
                request.method,
                target,
                content=await request.body(),
                headers=[
                    (name, value)
                    for name, value in request.headers.items()
                    if name not in _NOT_FORWARDED
                ],
            )
            answer = Response(
                content=upstream.content,
                status_code=upstream.status_code,
                headers={
                    name: value
                    for name, value in upstream.headers.items()
                    if name not in _NOT_FORWARDED
                },
            )
            if (request.method, request.url.path) != (self.held_method, self.held_path):
                return answer
            held = self.holding
            self.answered.append(
                Answered(
                    request.method, request.url.path, upstream.status_code, upstream.content, held
                )
            )
            if held:
                self._first_held.set()
                await self._released.wait()
            return answer

        app.add_route("/{path:path}", forward, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
        return app


@contextlib.asynccontextmanager
async def holding_proxy(upstream: str) -> AsyncIterator[HoldingProxy]:
    """A proxy to `upstream` on a free local port, holding refund creations until told not to."""
    proxy = HoldingProxy(upstream.rstrip("/"))
    async with httpx.AsyncClient(timeout=30) as http, serving(proxy.app(http)) as url:
        proxy.url = url
        try:
            yield proxy
        finally:
            # A request still held would keep the server from shutting down.
            proxy.pass_through()
