"""Paths and query strings carry only text the database can store, or the request is refused."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from api.problems import problem_response
from domain.text import unstorable_reason


class TextGuard:
    """422 `invalid_text` for a NUL or a lone surrogate in the path or a query parameter, before
    any route reads it: a path or a filter is compared with stored text, which cannot hold one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            found = _unstorable(scope)
            if found is not None:
                field, reason = found
                response = problem_response(
                    Request(scope),
                    422,
                    "invalid_text",
                    f"{field}: {reason}",
                    errors=[{"field": field, "code": "invalid_text", "message": reason}],
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _unstorable(scope: Scope) -> tuple[str, str] | None:
    reason = unstorable_reason(scope["path"])
    if reason is not None:
        return "path", reason
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True, errors="surrogateescape"):
        reason = unstorable_reason(name) or unstorable_reason(value)
        if reason is not None:
            return name or "query", reason
    return None
