"""RFC 9457 problem details with a stable `code` for every refusal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

PROBLEM_JSON = "application/problem+json"
# A 503 names a part that is down; an outage worth one is seldom over sooner.
RETRY_AFTER_SECONDS = 5
_TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
}
# Codes for the refusals Starlette and FastAPI raise themselves (routing, reading the body).
_HTTP_CODES = {
    400: "unreadable_body",
    404: "not_found",
    405: "method_not_allowed",
}


# The answer's shape, for the OpenAPI document (api/openapi.py); `problem_response` writes it.
PROBLEM_SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "title": "Problem",
        "description": "RFC 9457 problem details; `code` is stable, `detail` is for people",
        "required": ["type", "title", "status", "detail", "code", "instance"],
        "properties": {
            "type": {"type": "string", "description": "a URI reference: `/problems/<code>`"},
            "title": {"type": "string", "description": "the status in words"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            "code": {"type": "string", "description": "stable, for programs to branch on"},
            "instance": {"type": "string", "description": "the path the request was sent to"},
            "errors": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/ProblemFieldError"},
                "description": "one entry per refused field",
            },
        },
        "additionalProperties": True,
    },
    "ProblemFieldError": {
        "type": "object",
        "title": "ProblemFieldError",
        "required": ["field", "code", "message"],
        "properties": {
            "field": {"type": "string", "description": "e.g. `lines[0].quantity`"},
            "code": {"type": "string"},
            "message": {"type": "string"},
        },
        "additionalProperties": True,
    },
}


class Problem(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        field: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.field = field
        self.extra = extra or {}
        self.headers = dict(headers or {})


def problem_response(
    request: Request,
    status: int,
    code: str,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
        "instance": request.url.path,
    }
    if errors:
        body["errors"] = errors
    body.update(extra or {})
    answer_headers = dict(headers or {})
    if status == 401:
        # RFC 9110: a 401 names the scheme to authenticate with.
        answer_headers.setdefault("WWW-Authenticate", "Bearer")
    if status == 503:
        # Every 503 is a part that is down for now: the caller learns when to try again.
        answer_headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=answer_headers)


def field_name(location: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path", "header")]
    name = ""
    for part in parts:
        name += f"[{part}]" if part.isdigit() else (f".{part}" if name else part)
    return name or "body"


def _allowed_methods(request: Request) -> str:
    """Every method of every route on this path: Starlette's own `Allow` names only the methods
    of the first route that matched the path, and a path here often has one route per method."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        if route.methods and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods
    return ", ".join(sorted(methods))


def install(app: FastAPI) -> None:
    # Imported here: the fault answers are problems of this module.
    from api import faults

    faults.install(app)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        errors = (
            [{"field": exc.field, "code": exc.code, "message": exc.detail}] if exc.field else None
        )
        return problem_response(
            request,
            exc.status,
            exc.code,
            exc.detail,
            errors=errors,
            extra=exc.extra,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": field_name(err["loc"]), "code": err["type"], "message": err["msg"]}
            for err in exc.errors()
        ]
        fields = ", ".join(e["field"] for e in errors)
        return problem_response(
            request, 422, "validation_error", f"invalid request: {fields}", errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request)
        return problem_response(request, exc.status_code, code, str(exc.detail), headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Uvicorn still logs the error (Starlette re-raises it after this answer); the caller
        # learns nothing of it but that it is not theirs.
        return problem_response(request, 500, "internal_error", "the request could not be handled")
