from __future__ import annotations

from fastapi import FastAPI

from sandbox.courier import routes, workers
from sandbox.courier.config import CourierConfig
from sandbox.courier.db import Database
from sandbox.courier.runtime import CourierRuntime
from sandbox.service import sandbox_app


def create_app(config: CourierConfig) -> FastAPI:
    return sandbox_app(
        title="Sandbox courier",
        description="Parcel tracking by API and by signed webhooks; parcels move when told to.",
        runtime=lambda: CourierRuntime(config=config, db=Database(config.db_path)),
        loops={
            "courier-autopilot": workers.autopilot_forever,
            "courier-webhooks": workers.deliver_forever,
        },
        router=routes.router,
    )
