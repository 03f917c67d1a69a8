from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from sandbox.courier import errors, routes, workers
from sandbox.courier.config import CourierConfig
from sandbox.courier.db import Database
from sandbox.courier.runtime import CourierRuntime


def create_app(config: CourierConfig) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = CourierRuntime(config=config, db=Database(config.db_path))
        app.state.runtime = runtime
        tasks = [
            asyncio.create_task(workers.autopilot_forever(runtime), name="courier-autopilot"),
            asyncio.create_task(workers.deliver_forever(runtime), name="courier-webhooks"),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            runtime.db.close()

    app = FastAPI(
        title="Sandbox courier",
        description="Parcel tracking by API and by signed webhooks; parcels move when told to.",
        lifespan=lifespan,
    )
    errors.install(app)
    app.include_router(routes.router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
