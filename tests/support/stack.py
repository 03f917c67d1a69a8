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

from adapters.couriers.sandbox import SandboxCourierClient
from adapters.payments.sandbox import SandboxPaymentGateway
from adapters.payouts.sandbox import SandboxPayoutGateway
from api.app import create_app
from api.auth import Role, issue_key
from persistence.models import Buyer
from sandbox.courier import CourierConfig
from sandbox.courier import create_app as create_courier
from sandbox.payment_provider import ProviderConfig
from sandbox.payment_provider import create_app as create_provider
from settings import (
    BulkSettings,
    CourierSandboxSettings,
    LimitSettings,
    MoneySettings,
    NotificationSettings,
    PaymentSandboxSettings,
    Settings,
)
from stack.mailcatcher import MailSink, catching
from stack.seed import seed
from tests.support.servers import free_port, serving
from worker import OutsideWorld, build_worker, notification_channels, rates_source

SANDBOX_KEY = "sk_sandbox_test"
WEBHOOK_SECRET = "whsec_sandbox_test"
COURIER_KEY = "ck_sandbox_test"
COURIER_SECRET = "whsec_courier_test"


@dataclass
class Stack:
    api_url: str
    sandbox_url: str
    courier_url: str
    keys: dict[str, str]
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    temporal: WorkflowEnvironment
    # Every mail the engine sent, as the SMTP server received it.
    mail: MailSink

    def client(self, label: str | None) -> httpx.AsyncClient:
        """An HTTP client for one demo principal, e.g. `buyer:b-501`; None sends no key."""
        headers = {"Authorization": f"Bearer {self.keys[label]}"} if label else {}
        return httpx.AsyncClient(base_url=self.api_url, headers=headers, timeout=30)

    async def new_buyer(self, locale: str = "zh-CN", email: str | None = None) -> str:
        """A buyer with no history (so no risk from other tests), as a client label."""
        buyer_id = f"b-{uuid.uuid4().hex[:10]}"
        async with self.sessions.begin() as session:
            session.add(
                Buyer(buyer_id=buyer_id, name=f"Buyer {buyer_id}", locale=locale, email=email)
            )
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

    def courier(self) -> httpx.AsyncClient:
        """The sandbox courier: `/v1/parcels/...`, and `/control/parcels/...` to move parcels."""
        return httpx.AsyncClient(
            base_url=self.courier_url,
            headers={"Authorization": f"Bearer {COURIER_KEY}"},
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
    api_port, sandbox_port, courier_port = free_port(), free_port(), free_port()
    smtp_port = free_port()
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
        courier_sandbox=CourierSandboxSettings(
            url=f"http://127.0.0.1:{courier_port}",
            port=courier_port,
            api_key=SecretStr(COURIER_KEY),
            webhook_secret=SecretStr(COURIER_SECRET),
            poll_interval=timedelta(seconds=1),
        ),
        notify=NotificationSettings(
            smtp_port=smtp_port, sms_sandbox_outbox=data_dir / "sms" / "outbox.jsonl"
        ),
        # A bulk run of the suite's hundreds of tickets at the machine's pace, not a shop's.
        bulk=BulkSettings(rate=50),
        # The whole suite calls from 127.0.0.1 with a few keys, polling tickets ten times a
        # second; tests/api/test_limits.py runs apps of its own with tiny budgets.
        limits=LimitSettings(
            per_key="100000/minute",
            per_ip="100000/minute",
            webhooks="100000/minute",
            failed_auth="10000/minute",
        ),
    )
    provider = create_provider(
        ProviderConfig(
            db_path=data_dir / "payment-sandbox.sqlite3",
            api_key=SANDBOX_KEY,
            webhook_url=f"http://127.0.0.1:{api_port}/v1/webhooks/payments/sandbox",
            webhook_secret=WEBHOOK_SECRET,
            settle_delays={"wallet": 0.2, "card": 0.4},
            payout_settle_delay=0.4,
            webhook_backoff_initial=0.2,
            webhook_backoff_cap=1.0,
        )
    )
    courier = create_courier(
        CourierConfig(
            db_path=data_dir / "courier-sandbox.sqlite3",
            api_key=COURIER_KEY,
            webhook_url=f"http://127.0.0.1:{api_port}/v1/webhooks/couriers/{{carrier}}",
            webhook_secret=COURIER_SECRET,
            webhook_backoff_initial=0.2,
            webhook_backoff_cap=1.0,
            autopilot_delays=(0.2, 0.2, 0.2),
        )
    )
    keys = await seed(database_url, {})
    gateway = SandboxPaymentGateway(settings.payment_sandbox.url, SANDBOX_KEY)
    payouts = SandboxPayoutGateway(settings.payment_sandbox.url, SANDBOX_KEY)
    courier_client = SandboxCourierClient(settings.courier_sandbox.url, COURIER_KEY)
    mailer, sms, webhooks = notification_channels(settings)
    outside = OutsideWorld(
        gateways={gateway.name: gateway},
        couriers={carrier: courier_client for carrier in settings.courier_sandbox.carriers},
        mailer=mailer,
        sms=sms,
        webhooks=webhooks,
        rates=rates_source(settings),
        payouts=payouts,
    )
    worker = build_worker(env.client, settings, sessions, outside)
    async with (
        catching("127.0.0.1", smtp_port, data_dir / "mail") as mail,
        serving(provider, sandbox_port) as sandbox_url,
        serving(courier, courier_port) as courier_url,
        serving(create_app(settings, temporal=env.client), api_port) as api_url,
        worker,
    ):
        yield Stack(
            api_url=api_url,
            sandbox_url=sandbox_url,
            courier_url=courier_url,
            keys={label: entry["api_key"] for label, entry in keys.items()},
            settings=settings,
            sessions=sessions,
            temporal=env,
            mail=mail,
        )
    await gateway.aclose()
    await payouts.aclose()
    await courier_client.aclose()
