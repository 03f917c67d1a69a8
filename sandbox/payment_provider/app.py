from __future__ import annotations

from fastapi import FastAPI

from sandbox.payment_provider import routes, workers
from sandbox.payment_provider.config import ProviderConfig
from sandbox.payment_provider.db import Database
from sandbox.payment_provider.runtime import ProviderRuntime
from sandbox.service import sandbox_app


def create_app(config: ProviderConfig) -> FastAPI:
    return sandbox_app(
        title="Sandbox payment provider",
        description="Refunds and payouts settle asynchronously, reported by signed webhooks.",
        runtime=lambda: ProviderRuntime(config=config, db=Database(config.db_path)),
        loops={
            "sandbox-settle": workers.settle_forever,
            "sandbox-webhooks": workers.deliver_forever,
        },
        router=routes.router,
    )
