"""The sandboxes' errors answer `{"code": ..., "message": ...}` with a stable code, as the real
third parties' APIs do."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


class SandboxError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


async def _sandbox_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SandboxError)
    body = {"code": exc.code, "message": exc.message}
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


async def _invalid_request(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    body = {
        "code": "invalid_request",
        "message": "the request is not valid",
        "errors": jsonable_encoder(exc.errors()),
    }
    return JSONResponse(body, status_code=422)


def install(app: FastAPI) -> None:
    app.add_exception_handler(SandboxError, _sandbox_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
