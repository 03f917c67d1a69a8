"""What every sandbox service's app shares: its runtime on `app.state`, background loops that run
for the app's lifetime, `{"code", "message"}` errors, and `/healthz`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, Protocol

from fastapi import APIRouter, FastAPI

from sandbox import errors


class _Closable(Protocol):
    def close(self) -> None: ...


class _Runtime(Protocol):
    @property
    def db(self) -> _Closable: ...


def sandbox_app(
    *,
    title: str,
    description: str,
    runtime: Callable[[], _Runtime],
    loops: dict[str, Callable[[Any], Coroutine[Any, Any, None]]],
    router: APIRouter,
) -> FastAPI:
    """`runtime` is built when the app starts; each of `loops` (by task name) runs on it until
    the app stops."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = runtime()
        app.state.runtime = state
        tasks = [asyncio.create_task(loop(state), name=name) for name, loop in loops.items()]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            state.db.close()

    app = FastAPI(title=title, description=description, lifespan=lifespan)
    errors.install(app)
    app.include_router(router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
