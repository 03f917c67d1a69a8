"""Request limits in front of every route (SPEC §8): the body size (413 `body_too_large`), the
rates (429 `rate_limited`) and the failed-authentication throttle (429 `auth_throttled`)."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from limits.errors import ConfigurationError, StorageError
from starlette.datastructures import MutableHeaders, State
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.body_limit import BodyLimit
from api.problems import problem_response
from api.rate_limits import Budgets, Quota, caller_of, rate_headers, tightest
from settings import LimitSettings, Settings

log = logging.getLogger("aftersales.limits")

RATE_LIMITED = "rate_limited"
AUTH_THROTTLED = "auth_throttled"
# Probes, scrapes and the scan station's page are never limited: a busy caller must not make
# the API look dead to its orchestrator, nor lock the warehouse out of its page.
_UNLIMITED = frozenset({"/healthz", "/readyz", "/metrics", "/warehouse/station"})
_UNLIMITED_PREFIX = "/warehouse/static/"


def install(app: FastAPI) -> None:
    app.add_middleware(Limits, state=app.state)


class Limits:
    """Pure ASGI (not BaseHTTPMiddleware), so bodies and answers still stream. The settings are
    the ones the lifespan puts in the app's state, read once it has started; a storage it
    cannot open (`redis://` without the `redis` package) fails the start-up."""

    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self._state = state
        self._body: ASGIApp | None = None
        self._budgets: Budgets | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._starting(send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = self._body or self._configure()
        if self._budgets is None or _unlimited(_route_path(scope)):
            await body(scope, receive, send)
            return
        await self._limited(self._budgets, body, scope, receive, send)

    async def _limited(
        self, budgets: Budgets, body: ASGIApp, scope: Scope, receive: Receive, send: Send
    ) -> None:
        caller = caller_of(scope, _route_path(scope))
        try:
            throttle = await budgets.throttled(caller.address)
            spent, refused = ([], None) if throttle else await budgets.spend(caller)
        except StorageError as error:
            # The limits protect the API; an outage of their storage must not stop it.
            log.warning("request not rate limited, the limits storage failed: %s", error)
            await body(scope, receive, send)
            return
        if throttle is not None:
            detail = "too many failed authentications from this address; retry later"
            await _too_many(scope, receive, send, AUTH_THROTTLED, detail, throttle, [throttle])
        elif refused is not None:
            detail = f"rate limit of {refused.item.amount} per {refused.item.get_expiry()}s spent"
            await _too_many(scope, receive, send, RATE_LIMITED, detail, refused, spent)
        else:
            await body(scope, receive, _observing(send, budgets, caller.address, spent))

    def _starting(self, send: Send) -> Send:
        async def starting(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                try:
                    self._configure()
                except ConfigurationError as error:
                    message = {"type": "lifespan.startup.failed", "message": f"limits: {error}"}
            await send(message)

        return starting

    def _configure(self) -> ASGIApp:
        settings: Settings = self._state.settings
        limits: LimitSettings = settings.limits
        self._budgets = Budgets(limits) if limits.enabled else None
        self._body = BodyLimit(self.app, limits.body_max_bytes)
        return self._body


def _observing(send: Send, budgets: Budgets, address: str, spent: list[Quota]) -> Send:
    """Adds the RateLimit headers to the answer and counts a 401 against the address."""

    async def observed(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for name, value in rate_headers(tightest(spent), spent).items():
                headers.append(name, value)
            if message["status"] == 401:
                try:
                    await budgets.failed(address)
                except StorageError as error:
                    log.warning("failed authentication not counted: %s", error)
        await send(message)

    return observed


async def _too_many(
    scope: Scope,
    receive: Receive,
    send: Send,
    code: str,
    detail: str,
    shown: Quota,
    applied: list[Quota],
) -> None:
    retry_after = max(1, shown.reset)
    response = problem_response(
        Request(scope), 429, code, detail, extra={"retry_after": retry_after}
    )
    response.headers.update({"Retry-After": str(retry_after), **rate_headers(shown, applied)})
    await response(scope, receive, send)


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _unlimited(path: str) -> bool:
    return path in _UNLIMITED or path.startswith(_UNLIMITED_PREFIX)
