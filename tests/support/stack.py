"""The whole engine for API tests: real API and sandbox provider over HTTP, a real worker,
the Temporal dev server and PostgreSQL — as the run command starts them, in one process."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from adapters.payments.sandbox import SandboxPaymentGateway
from api.app import create_app
from api.auth import Role, issue_key
from persistence.models import Buyer
from sandbox.payment_provider import ProviderConfig
from sandbox.payment_provider import create_app as create_provider
from settings import MoneySettings, PaymentSandboxSettings, Settings
from stack.seed import seed
from tests.support.servers import free_port, serving
from worker import build_worker

SANDBOX_KEY = "sk_sandbox_test"
WEBHOOK_SECRET = "whsec_sandbox_test"


@dataclass
class Stack:
    api_url: str
    sandbox_url: str
    keys: dict[str, str]
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    temporal: WorkflowEnvironment

    def client(self, label: str | None) -> httpx.AsyncClient:
        """An HTTP client for one demo principal, e.g. `buyer:b-501`; None sends no key."""
        headers = {"Authorization": f"Bearer {self.keys[label]}"} if label else {}
        return httpx.AsyncClient(base_url=self.api_url, headers=headers, timeout=30)

    async def new_buyer(self, locale: str = "zh-CN") -> str:
        """A buyer with no history (so no risk from other tests), as a client label."""
        buyer_id = f"b-{uuid.uuid4().hex[:10]}"
        async with self.sessions.begin() as session:
            session.add(Buyer(buyer_id=buyer_id, name=f"Buyer {buyer_id}", locale=locale))
            key = await issue_key(session, Role.buyer, buyer_id, f"test buyer {buyer_id}")
        label = f"buyer:{buyer_id}"
        self.keys[label] = key
        return label

    def sandbox(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.sandbox_url,
            headers={"Authorization": f"Bearer {SANDBOX_KEY}"},
            timeout=30,
        )

    async def ticket_when(self, label: str, ticket_no: str, *statuses: str) -> dict[str, Any]:
        """Read the ticket until it reaches one of `statuses` (within 30 s)."""
        body: dict[str, Any] = {}
        async with self.client(label) as http:
            try:
                async with asyncio.timeout(30):
                    while body.get("status") not in statuses:
                        await asyncio.sleep(0.1)
                        body = (await http.get(f"/v1/tickets/{ticket_no}")).json()
            except TimeoutError:
                raise AssertionError(f"{ticket_no} did not reach {statuses}: {body}") from None
        return body


@asynccontextmanager
async def running_stack(
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    env: WorkflowEnvironment,
    data_dir: Path,
) -> AsyncIterator[Stack]:
    api_port, sandbox_port = free_port(), free_port()
    settings = Settings(
        database_url=database_url,
        temporal_task_queue=f"aftersales-test-{uuid.uuid4().hex[:8]}",
        api_port=api_port,
        data_dir=data_dir,
        money=MoneySettings(status_poll_interval=timedelta(seconds=2)),
        payment_sandbox=PaymentSandboxSettings(
            url=f"http://127.0.0.1:{sandbox_port}",
            port=sandbox_port,
            api_key=SecretStr(SANDBOX_KEY),
            webhook_secret=SecretStr(WEBHOOK_SECRET),
        ),
    )
    provider = create_provider(
        ProviderConfig(
            db_path=data_dir / "payment-sandbox.sqlite3",
            api_key=SANDBOX_KEY,
            webhook_url=f"http://127.0.0.1:{api_port}/v1/webhooks/payments/sandbox",
            webhook_secret=WEBHOOK_SECRET,
            settle_delays={"wallet": 0.2, "card": 0.4},
            webhook_backoff_initial=0.2,
            webhook_backoff_cap=1.0,
        )
    )
    keys = await seed(database_url, {})
    gateway = SandboxPaymentGateway(settings.payment_sandbox.url, SANDBOX_KEY)
    worker = build_worker(env.client, settings, sessions, {gateway.name: gateway})
    async with (
        serving(provider, sandbox_port) as sandbox_url,
        serving(create_app(settings, temporal=env.client), api_port) as api_url,
        worker,
    ):
        yield Stack(
            api_url=api_url,
            sandbox_url=sandbox_url,
            keys={label: entry["api_key"] for label, entry in keys.items()},
            settings=settings,
            sessions=sessions,
            temporal=env,
        )
    await gateway.aclose()
