from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from sandbox.payment_provider import errors, routes, workers
from sandbox.payment_provider.config import ProviderConfig
from sandbox.payment_provider.db import Database
from sandbox.payment_provider.runtime import ProviderRuntime


def create_app(config: ProviderConfig) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = ProviderRuntime(config=config, db=Database(config.db_path))
        app.state.runtime = runtime
        tasks = [
            asyncio.create_task(workers.settle_forever(runtime), name="sandbox-settle"),
            asyncio.create_task(workers.deliver_forever(runtime), name="sandbox-webhooks"),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            runtime.db.close()

    app = FastAPI(
        title="Sandbox payment provider",
        description="Refunds settle asynchronously and are reported by signed webhooks.",
        lifespan=lifespan,
    )
    errors.install(app)
    app.include_router(routes.router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
