"""Request counts, latencies and refusals for Prometheus, labelled by route template, not raw path.

Every refusal is a problem+json answer with a stable `code` (api/problems.py): counted by route
and code, it shows which actions are refused and why, wherever in the API the answer was made.
Pure ASGI (not BaseHTTPMiddleware), so answers still stream; only problem bodies, which are
small, are read.
"""

from __future__ import annotations

import json
import time

from fastapi import FastAPI
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import PROBLEM_JSON

REQUESTS = Counter("aftersales_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("aftersales_http_request_seconds", "HTTP request latency", ["method", "route"])
PROBLEMS = Counter(
    "aftersales_http_problems_total",
    "Problem answers (RFC 9457) by the stable code they carry",
    ["route", "code"],
)
API_METRICS = (REQUESTS, LATENCY, PROBLEMS)
# A problem body is a few hundred bytes; anything longer is not read past this.
_PROBLEM_BODY_LIMIT = 64 * 1024
# The code of the answer to an error no handler caught (api/problems.py answers it so).
_UNCAUGHT = "internal_error"


def install(app: FastAPI) -> None:
    app.add_middleware(Measured)


class Measured:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answer = _Answer(send)
        try:
            await self.app(scope, receive, answer.send)
        except Exception:
            if answer.status is None:
                # Starlette's outermost handler answers it, past this middleware.
                answer.status, answer.code = 500, _UNCAUGHT
            raise
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            LATENCY.labels(method, template).observe(time.perf_counter() - started)
            REQUESTS.labels(method, template, str(answer.status or 500)).inc()
            code = answer.code or answer.problem_code()
            if code is not None:
                PROBLEMS.labels(template, code).inc()


class _Answer:
    """The status of the answer sent, and the body of a problem answer."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status: int | None = None
        self.code: str | None = None
        self._problem: bytearray | None = None

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            content_type = dict(message.get("headers") or []).get(b"content-type", b"")
            if content_type.split(b";")[0].strip() == PROBLEM_JSON.encode():
                self._problem = bytearray()
        elif (
            message["type"] == "http.response.body"
            and self._problem is not None
            and len(self._problem) < _PROBLEM_BODY_LIMIT
        ):
            self._problem += message.get("body", b"")
        await self._send(message)

    def problem_code(self) -> str | None:
        if self._problem is None:
            return None
        try:
            code = json.loads(bytes(self._problem)).get("code")
        except (ValueError, AttributeError):
            return None
        return code if isinstance(code, str) else None
