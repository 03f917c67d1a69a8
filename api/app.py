"""The API process: `uvicorn api.app:create_app --factory`. Its composition root is the lifespan."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from api import database_watch, faults, limits, metrics, openapi, problems
from api.routes import (
    balances,
    courier_webhooks,
    health,
    inbox,
    keys,
    merchant_policies,
    messages,
    orders,
    reports,
    ticket_actions,
    tickets,
    warehouse,
    watchlist,
    webhooks,
)
from api.text_guard import TextGuard
from persistence.db import make_engine, make_session_factory, sqlalchemy_url
from settings import Settings, get_settings


def create_app(settings: Settings | None = None, temporal: Client | None = None) -> FastAPI:
    """`temporal` lets a caller that already holds a client (tests) share it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        config = settings or get_settings()
        url = config.require_database_url()
        engine = make_engine(
            url, bounds=faults.DATABASE_BOUNDS, connection_class=database_watch.WatchedConnection
        )
        app.state.database_probe = database_watch.DatabaseProbe(sqlalchemy_url(url))
        app.state.settings = config
        app.state.sessions = make_session_factory(engine)
        app.state.temporal = temporal or await Client.connect(
            config.temporal_address,
            namespace=config.temporal_namespace,
            data_converter=pydantic_data_converter,
            retry_config=faults.TEMPORAL_RETRY,
        )
        # What startup built lives as long as the process: kept out of the collector's full
        # passes, which otherwise pause a request for 100-200 ms every few hundred requests.
        gc.freeze()
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(
        title="After-sales engine",
        version="0.1.0",
        description="Refunds, returns and exchanges; every ticket is a durable Temporal workflow.",
        lifespan=lifespan,
    )
    problems.install(app)
    app.add_middleware(TextGuard)
    limits.install(app)
    # Outermost, so refusals of the limits (413, 429) are counted too.
    metrics.install(app)
    for router in (
        health.router,
        orders.router,
        tickets.router,
        ticket_actions.router,
        webhooks.router,
        courier_webhooks.router,
        merchant_policies.router,
        messages.router,
        watchlist.router,
        inbox.router,
        reports.router,
        warehouse.router,
        balances.router,
        keys.router,
    ):
        app.include_router(router)
    openapi.install(app)
    return app
