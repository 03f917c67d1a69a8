"""A request body past the configured size is refused with 413 before it is read whole (SPEC §8)."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem_response

BODY_TOO_LARGE = "body_too_large"


class BodyTooLarge(Exception):
    """Raised into the route that reads past the maximum, so it stops reading."""


class BodyLimit:
    """Pure ASGI, so a body still streams to the route as it arrives. A declared Content-Length
    past the maximum is refused before the route runs; a chunked body is counted as it
    arrives and cut off at the first chunk past the maximum."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        guard = _Guard(self.max_bytes, receive, send)
        try:
            await self.app(scope, guard.receive, guard.send)
        except Exception:
            # Whatever the route made of the cut-off body (FastAPI turns it into a 400) gives
            # way to the 413, unless its answer had already gone out.
            if not guard.exceeded or guard.started:
                raise
        if guard.exceeded and not guard.started:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            Request(scope),
            413,
            BODY_TOO_LARGE,
            f"the request body is larger than {self.max_bytes} bytes",
            extra={"max_bytes": self.max_bytes},
        )
        # The rest of the body is never read: the connection cannot carry another request.
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


class _Guard:
    """Counts the body's bytes on their way in and holds back the app's answer once the body
    went past the maximum, so the 413 can take its place."""

    def __init__(self, max_bytes: int, receive: Receive, send: Send) -> None:
        self.max_bytes = max_bytes
        self.received = 0
        self.exceeded = False
        self.started = False
        self._receive = receive
        self._send = send

    async def receive(self) -> Message:
        if self.exceeded:
            raise BodyTooLarge
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.max_bytes:
                self.exceeded = True
                raise BodyTooLarge
        return message

    async def send(self, message: Message) -> None:
        if self.exceeded and not self.started:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


def _content_length(scope: Scope) -> int | None:
    """The declared length; the server has already refused one that is not a number."""
    value = Headers(scope=scope).get("content-length")
    return int(value) if value is not None and value.strip().isdigit() else None
