"""What the logs and traces of a request know of it: its route's path parameters for every log
line written while it is served (uvicorn's access line among them), and a server span, named by
its route template, continuing the caller's `traceparent` when it sends one.

Pure ASGI, outermost: the span covers everything the API does with the request. The tracer is
the one the lifespan put in the app's state; without one, requests pass straight on.
"""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.datastructures import State
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from observability import logs


def install(app: FastAPI) -> None:
    app.add_middleware(RequestContext, state=app.state)


class RequestContext:
    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self._state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bound = logs.bind_request(scope)
        try:
            tracer: trace.Tracer | None = getattr(self._state, "tracer", None)
            if tracer is None:
                await self.app(scope, receive, send)
            else:
                await self._traced(tracer, scope, receive, send)
        finally:
            logs.unbind_request(bound)

    async def _traced(
        self, tracer: trace.Tracer, scope: Scope, receive: Receive, send: Send
    ) -> None:
        headers = {
            key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]
        }
        method = scope["method"]
        with tracer.start_as_current_span(
            method,
            context=propagate.extract(headers),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": scope["path"]},
        ) as span:

            async def answering(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            try:
                await self.app(scope, receive, answering)
            finally:
                # Known once the router has matched the request.
                route = getattr(scope.get("route"), "path", None)
                if route is not None:
                    span.set_attribute("http.route", route)
                    span.update_name(f"{method} {route}")
