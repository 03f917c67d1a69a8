"""An API and a worker of a test's own, on a task queue of their own, next to the shared stack:
for tests that read what one worker exports (its metrics endpoint, its spans) without the other
tests' tickets in it. Database, Temporal server, sandboxes and mail sink are the stack's."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from opentelemetry.sdk.trace import TracerProvider
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from adapters.couriers.sandbox import SandboxCourierClient
from adapters.payments.sandbox import SandboxPaymentGateway
from adapters.payouts.sandbox import SandboxPayoutGateway
from api.app import create_app
from observability.tracing import traced_client
from settings import Settings
from tests.support.servers import serving
from tests.support.stack import COURIER_KEY, SANDBOX_KEY, Stack
from worker import OutsideWorld, build_worker, notification_channels, rates_source


@dataclass
class OwnEngine:
    api_url: str
    settings: Settings
    keys: dict[str, str]

    def client(self, label: str) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.keys[label]}"}
        return httpx.AsyncClient(base_url=self.api_url, headers=headers, timeout=30)


@asynccontextmanager
async def own_engine(
    stack: Stack,
    *,
    runtime: Runtime | None = None,
    tracer_provider: TracerProvider | None = None,
    **settings: Any,
) -> AsyncIterator[OwnEngine]:
    """`runtime`: the worker's Temporal runtime (its metrics endpoint); `settings` replace the
    stack's settings of both."""
    queue = f"own-{uuid.uuid4().hex[:8]}"
    config = stack.settings.model_copy(update={"temporal_task_queue": queue, **settings})
    client = stack.temporal.client
    if runtime is not None:
        shared = client.config()
        client = await Client.connect(
            shared["service_client"].config.target_host,
            namespace=shared["namespace"],
            data_converter=pydantic_data_converter,
            runtime=runtime,
        )
    sandbox = config.payment_sandbox.url
    gateway = SandboxPaymentGateway(sandbox, SANDBOX_KEY)
    payouts = SandboxPayoutGateway(sandbox, SANDBOX_KEY)
    courier = SandboxCourierClient(config.courier_sandbox.url, COURIER_KEY)
    mailer, sms, webhooks = notification_channels(config)
    outside = OutsideWorld(
        gateways={gateway.name: gateway},
        couriers={carrier: courier for carrier in config.courier_sandbox.carriers},
        mailer=mailer,
        sms=sms,
        webhooks=webhooks,
        rates=rates_source(config),
        payouts=payouts,
    )
    worker = build_worker(traced_client(client, tracer_provider), config, stack.sessions, outside)
    app = create_app(config, temporal=stack.temporal.client, tracer_provider=tracer_provider)
    try:
        async with serving(app) as api_url, worker:
            yield OwnEngine(api_url, config, stack.keys)
    finally:
        await gateway.aclose()
        await payouts.aclose()
        await courier.aclose()
