"""The API process: `uvicorn api.app:create_app --factory`. Its composition root is the lifespan."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from api import database_watch, faults, limits, metrics, openapi, problems, request_context
from api.routes import (
    balances,
    bulk_actions,
    catalogue,
    courier_webhooks,
    dashboard,
    difference_payments,
    health,
    inbox,
    keys,
    merchant_console,
    merchant_policies,
    merchant_rules,
    messages,
    orders,
    reports,
    return_labels,
    ticket_actions,
    tickets,
    warehouse,
    watchlist,
    webhooks,
)
from api.text_guard import TextGuard
from observability import logs, tracing
from persistence.db import make_engine, make_session_factory, sqlalchemy_url
from settings import Settings, get_settings


def create_app(
    settings: Settings | None = None,
    temporal: Client | None = None,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """`temporal` lets a caller that already holds a client (tests) share it; `tracer_provider`
    replaces the one OTEL_EXPORTER_OTLP_ENDPOINT configures (tests read their spans)."""
    # uvicorn set up its loggers before it built the app: its first lines are JSON already.
    logs.format_uvicorn(settings or get_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        config = settings or get_settings()
        logs.configure(config)
        url = config.require_database_url()
        engine = make_engine(
            url, bounds=faults.DATABASE_BOUNDS, connection_class=database_watch.WatchedConnection
        )
        app.state.database_probe = database_watch.DatabaseProbe(sqlalchemy_url(url))
        app.state.settings = config
        app.state.sessions = make_session_factory(engine)
        traces = tracer_provider or tracing.tracer_provider(config, "aftersales-api")
        app.state.tracer = traces.get_tracer(tracing.TRACER_NAME) if traces else None
        client = temporal or await Client.connect(
            config.temporal_address,
            namespace=config.temporal_namespace,
            data_converter=pydantic_data_converter,
            retry_config=faults.TEMPORAL_RETRY,
        )
        app.state.temporal = tracing.traced_client(client, traces)
        # What startup built lives as long as the process: kept out of the collector's full
        # passes, which otherwise pause a request for 100-200 ms every few hundred requests.
        gc.freeze()
        try:
            yield
        finally:
            await engine.dispose()
            if traces is not None and traces is not tracer_provider:
                traces.shutdown()  # sends the spans still batched

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
    # Outermost of all: the request's span and log fields cover everything done with it.
    request_context.install(app)
    for router in (
        health.router,
        orders.router,
        bulk_actions.router,
        tickets.router,
        return_labels.router,
        ticket_actions.router,
        difference_payments.router,
        webhooks.router,
        courier_webhooks.router,
        merchant_policies.router,
        catalogue.router,
        merchant_rules.router,
        messages.router,
        watchlist.router,
        inbox.router,
        reports.router,
        dashboard.router,
        merchant_console.router,
        warehouse.router,
        balances.router,
        keys.router,
    ):
        app.include_router(router)
    openapi.install(app)
    return app
