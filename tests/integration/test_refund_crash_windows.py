"""Crash windows (SPEC §4: a refund is never executed twice, whatever crashes happen).

The worker runs as an OS process of its own (`python -m worker`) and reaches the payment provider
through a proxy that lets the refund through but keeps the provider's answer from the worker. Once
the provider has the refund, and before our `refunds` row records it, the worker gets SIGKILL.
Temporal notices the silence within the activity's heartbeat timeout, and a fresh worker process
retries it under the stored idempotency key. The sandbox deduplicates that key itself; localstripe
does not, so there the Stripe adapter's look-up by key is all that keeps it to one refund.
"""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx
import pytest
import stripe
from sqlalchemy import select
from temporalio.api.enums.v1 import EventType, TimeoutType

import contracts as c
from api.app import create_app
from persistence.models import Refund
from tests.support.holding_proxy import holding_proxy
from tests.support.localstripe import running_localstripe
from tests.support.orders import buyer_id, line, open_ticket, order_body
from tests.support.servers import serving
from tests.support.stack import SANDBOX_KEY, Stack
from tests.support.worker_process import showing, worker_env, worker_process

STRIPE_KEY = "sk_test_localstripe"
# One unit of two is refunded: a second refund of it would still fit in the payment, so nothing but
# our idempotency would stop the provider from making one.
AMOUNT = 2_500
PAID = 2 * AMOUNT


@dataclass(frozen=True)
class AtProvider:
    """A refund as the provider itself lists it."""

    id: str
    amount: int
    status: str


class Provider(Protocol):
    name: str
    currency: str
    method: str
    # The provider's own address; the worker reaches it through the proxy only.
    upstream: str

    def worker_env(self, proxy_url: str) -> dict[str, str]: ...

    async def pay(self, amount: int) -> str:
        """The reference of a payment of `amount` at the provider."""
        ...

    async def refunds(self, reference: str) -> list[AtProvider]:
        """Every refund the provider holds against that payment."""
        ...


class SandboxPayments:
    name, currency, method = "sandbox", "CNY", "wallet"

    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        self.upstream = stack.sandbox_url

    def worker_env(self, proxy_url: str) -> dict[str, str]:
        return {"PAYMENT_SANDBOX_URL": proxy_url, "PAYMENT_SANDBOX_API_KEY": SANDBOX_KEY}

    async def pay(self, amount: int) -> str:
        # The sandbox refunds any payment reference it is given.
        return f"pay_{uuid.uuid4().hex[:12]}"

    async def refunds(self, reference: str) -> list[AtProvider]:
        async with self._stack.sandbox() as sandbox:
            listed = await sandbox.get("/v1/refunds", params={"payment_reference": reference})
        assert listed.status_code == 200, listed.text
        return [AtProvider(r["id"], r["amount"], r["status"]) for r in listed.json()["data"]]


class StripePayments:
    name, currency, method = "stripe", "USD", "card"

    def __init__(self, url: str, shop: stripe.StripeClient) -> None:
        self.upstream = url
        self._shop = shop

    def worker_env(self, proxy_url: str) -> dict[str, str]:
        return {"STRIPE_API_KEY": STRIPE_KEY, "STRIPE_API_BASE": proxy_url}

    async def pay(self, amount: int) -> str:
        method = await self._shop.v1.payment_methods.create_async(
            params={
                "type": "card",
                "card": {
                    "number": "4242424242424242",
                    "exp_month": 12,
                    "exp_year": 2034,
                    "cvc": "123",
                },
            }
        )
        intent = await self._shop.v1.payment_intents.create_async(
            params={
                "amount": amount,
                "currency": self.currency.lower(),
                "payment_method": method.id,
                "confirm": True,
            }
        )
        assert intent.status == "succeeded"
        return intent.id

    async def refunds(self, reference: str) -> list[AtProvider]:
        page = await self._shop.v1.refunds.list_async(
            params={"payment_intent": reference, "limit": 100}
        )
        return [AtProvider(r.id, r.amount, r.status or "") async for r in page.auto_paging_iter()]


@pytest.fixture(params=["sandbox", "stripe"])
async def provider(request: pytest.FixtureRequest, stack: Stack) -> AsyncIterator[Provider]:
    if request.param == "sandbox":
        yield SandboxPayments(stack)
        return
    async with running_localstripe() as server:
        http = stripe.HTTPXClient()
        try:
            shop = stripe.StripeClient(
                STRIPE_KEY, base_addresses={"api": server.url}, http_client=http
            )
            yield StripePayments(server.url, shop)
        finally:
            await http.close_async()


async def _refund_row(stack: Stack, ticket_no: str) -> Refund:
    async with stack.sessions() as session:
        query = select(Refund).where(Refund.ticket_no == ticket_no)
        return (await session.execute(query)).scalar_one()


async def _execute_attempts(stack: Stack, ticket_no: str) -> list[tuple[int, str]]:
    """Per execute_refund activity: the attempt that finished it, and how the one before ended."""
    history = await stack.temporal.client.get_workflow_handle(ticket_no).fetch_history()
    scheduled = {
        event.event_id
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.activity_type.name == c.EXECUTE_REFUND
    }
    started = [
        event.activity_task_started_event_attributes
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and event.activity_task_started_event_attributes.scheduled_event_id in scheduled
    ]
    return [
        (s.attempt, TimeoutType.Name(s.last_failure.timeout_failure_info.timeout_type))
        for s in started
    ]


async def _open_refund_only(
    stack: Stack, api_url: str, label: str, provider: Provider, reference: str
) -> str:
    """A refund-only ticket for one of two units of an unshipped order paid at `provider`:
    refunded at once."""
    order = order_body(
        [line("L1", 2, AMOUNT)],
        buyer=buyer_id(label),
        currency=provider.currency,
        method=provider.method,
    )
    order["payment"] |= {"provider": provider.name, "reference": reference}

    def client(principal: str) -> httpx.AsyncClient:
        key = stack.keys[principal]
        return httpx.AsyncClient(
            base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )

    async with client("platform:shop") as platform, client(label) as buyer:
        return await open_ticket(platform, buyer, order, ("L1", 1))


async def test_a_worker_killed_after_the_provider_accepted_a_refund_leaves_exactly_one(
    provider: Provider, stack: Stack, tmp_path: Path
) -> None:
    queue = f"crash-{provider.name}-{uuid.uuid4().hex[:8]}"
    # This test's own API starts tickets on this test's own task queue: only its worker runs them.
    api = create_app(
        stack.settings.model_copy(update={"temporal_task_queue": queue}),
        temporal=stack.temporal.client,
    )
    label = await stack.new_buyer()
    reference = await provider.pay(PAID)
    first_log, second_log = tmp_path / "worker-1.log", tmp_path / "worker-2.log"

    async with serving(api) as api_url, holding_proxy(provider.upstream) as proxy:
        env = worker_env(stack, queue, tmp_path) | provider.worker_env(proxy.url)
        async with worker_process(env, first_log) as first:
            ticket_no = await _open_refund_only(stack, api_url, label, provider, reference)
            with showing(first_log):
                async with asyncio.timeout(30):
                    accepted = await proxy.provider_accepted()
            at_provider_in_the_window = await provider.refunds(reference)
            row_in_the_window = await _refund_row(stack, ticket_no)
            first.send_signal(signal.SIGKILL)
            killed = await first.wait()
        proxy.pass_through()
        async with worker_process(env, second_log):
            with showing(second_log):
                ticket = await stack.ticket_when(label, ticket_no, "completed", "refund_failed")

    accepted_id = str(json.loads(accepted.body)["id"])
    at_provider = await provider.refunds(reference)
    row = await _refund_row(stack, ticket_no)

    # The window: the provider had the refund, our row did not, and the worker died right there.
    assert accepted.status in (200, 201), accepted.body
    assert [r.id for r in at_provider_in_the_window] == [accepted_id]
    assert (row_in_the_window.provider_refund_id, row_in_the_window.status) == (None, "granted")
    assert killed == -signal.SIGKILL
    # Temporal retried the execution after the dead worker's heartbeats stopped.
    assert await _execute_attempts(stack, ticket_no) == [(2, "TIMEOUT_TYPE_HEARTBEAT")]
    # Exactly one refund at the provider, and it is the one the ticket records.
    assert ticket["status"] == "completed", ticket["timeline"][-1]
    assert ticket["refunded_amount"] == AMOUNT
    assert at_provider == [AtProvider(accepted_id, AMOUNT, "succeeded")], proxy.answered
    assert (row.provider_refund_id, row.status) == (accepted_id, "succeeded")
    assert [(r["provider_refund_id"], r["status"]) for r in ticket["refunds"]] == [
        (accepted_id, "succeeded")
    ]
