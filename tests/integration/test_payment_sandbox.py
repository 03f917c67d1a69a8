"""The sandbox payment provider over real HTTP, through the SandboxPaymentGateway adapter.

Each test runs the provider with uvicorn on a free local port, and a small webhook receiver that
records what the provider POSTs to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import json
import socket
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response

from adapters.payments.port import (
    PaymentGateway,
    PaymentProviderUnavailable,
    RefundCommand,
    RefundRefused,
)
from adapters.payments.sandbox import SandboxPaymentGateway, parse_webhook_event
from adapters.payments.signing import SIGNATURE_HEADER, InvalidSignature, verify
from adapters.sandbox_client import SandboxClient
from domain.tickets import RefundStatus
from sandbox.payment_provider import ProviderConfig, create_app, rules
from sandbox.payment_provider.db import Database
from sandbox.payment_provider.schemas import DEFAULT_DELAYS, RuleRequest

API_KEY = "sk_test_sandbox"
SECRET = "whsec_test_sandbox"
FAST = 0.05


class _QuietServer(uvicorn.Server):
    """uvicorn in the test's own event loop, leaving pytest's signal handlers alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = _QuietServer(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("server stopped during start-up")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclasses.dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def event(self) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(self.body)
        return event


class Receiver:
    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.failures_left = 0
        self.url = ""
        self._arrived = asyncio.Event()
        self.app = FastAPI()
        self.app.add_api_route("/hooks", self._receive, methods=["POST"])

    async def _receive(self, request: Request) -> Response:
        status = 500 if self.failures_left > 0 else 204
        self.failures_left -= 1 if status == 500 else 0
        self.deliveries.append(Delivery(dict(request.headers), await request.body(), status))
        self._arrived.set()
        return Response(status_code=status)

    async def wait_until(self, check: Callable[[], bool]) -> None:
        async with asyncio.timeout(5.0):
            while not check():
                self._arrived.clear()
                await self._arrived.wait()

    def accepted(self, event_type: str | None = None) -> list[Delivery]:
        return [
            d
            for d in self.deliveries
            if d.answered == 204 and event_type in (None, d.event["type"])
        ]


@dataclasses.dataclass
class Sandbox:
    url: str
    gateway: SandboxPaymentGateway
    http: httpx.AsyncClient
    stop: Callable[[], Awaitable[None]]

    async def add_rule(self, **rule: Any) -> None:
        response = await self.http.post("/v1/control/rules", json=rule)
        assert response.status_code == 201, response.text

    async def refunds_of(self, payment_reference: str) -> list[dict[str, Any]]:
        response = await self.http.get(
            "/v1/refunds", params={"payment_reference": payment_reference}
        )
        assert response.status_code == 200, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        return data


StartSandbox = Callable[..., Awaitable[Sandbox]]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    async with serving(receiver.app) as url:
        receiver.url = f"{url}/hooks"
        yield receiver


@pytest.fixture
async def start_sandbox(tmp_path: Path, receiver: Receiver) -> AsyncIterator[StartSandbox]:
    async with contextlib.AsyncExitStack() as stack:

        async def start(**overrides: Any) -> Sandbox:
            config = ProviderConfig(
                db_path=tmp_path / "sandbox.sqlite3",
                api_key=API_KEY,
                webhook_url=receiver.url,
                webhook_secret=SECRET,
                settle_delays={"other": FAST},
                reverse_delay=0.1,
                webhook_backoff_initial=0.1,
            )
            run = contextlib.AsyncExitStack()
            app = create_app(dataclasses.replace(config, **overrides))
            url = await run.enter_async_context(serving(app))
            gateway = SandboxPaymentGateway(url, API_KEY, timeout=5.0)
            run.push_async_callback(gateway.aclose)
            http = await run.enter_async_context(
                httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {API_KEY}"})
            )
            stack.push_async_callback(run.aclose)
            return Sandbox(url, gateway, http, run.aclose)

        yield start


@pytest.fixture
async def sandbox(start_sandbox: StartSandbox) -> Sandbox:
    return await start_sandbox()


def command(key: str = "AS20261123-000042:refund:1", **changes: Any) -> RefundCommand:
    fields: dict[str, Any] = {
        "idempotency_key": key,
        "payment_reference": "pay_1001",
        "payment_method": "card",
        "amount": 12_999,
        "currency": "CNY",
        "reason": "quality_issue",
        "metadata": {"ticket": "AS20261123-000042"},
    }
    return RefundCommand.model_validate(fields | changes)


async def test_a_replayed_refund_returns_the_same_refund_and_creates_no_second_one(
    sandbox: Sandbox,
) -> None:
    gateway: PaymentGateway = sandbox.gateway

    first = await gateway.create_refund(command())
    replay = await gateway.create_refund(command())

    assert first.provider == "sandbox"
    assert first.provider_refund_id.startswith("re_")
    assert first.status is RefundStatus.pending
    assert (first.amount, first.currency) == (12_999, "CNY")
    assert replay.provider_refund_id == first.provider_refund_id
    assert [r["id"] for r in await sandbox.refunds_of("pay_1001")] == [first.provider_refund_id]


async def test_concurrent_calls_with_one_key_create_one_refund(sandbox: Sandbox) -> None:
    results = await asyncio.gather(*(sandbox.gateway.create_refund(command()) for _ in range(10)))

    assert len({r.provider_refund_id for r in results}) == 1
    assert len(await sandbox.refunds_of("pay_1001")) == 1


async def test_the_same_key_with_another_body_is_refused(sandbox: Sandbox) -> None:
    await sandbox.gateway.create_refund(command())

    with pytest.raises(RefundRefused) as refused:
        await sandbox.gateway.create_refund(command(amount=13_000))

    assert refused.value.code == "idempotency_key_reused"
    assert len(await sandbox.refunds_of("pay_1001")) == 1


async def test_a_refund_settles_and_a_signed_webhook_reports_it(
    sandbox: Sandbox, receiver: Receiver
) -> None:
    refund = await sandbox.gateway.create_refund(command())

    await receiver.wait_until(lambda: bool(receiver.accepted("refund.succeeded")))

    delivery = receiver.accepted()[0]
    verify(SECRET, delivery.headers[SIGNATURE_HEADER.lower()], delivery.body, int(time.time()), 300)
    event = parse_webhook_event(delivery.body)
    assert event.event_id.startswith("evt_")
    assert event.type == "refund.succeeded"
    assert event.refund.provider_refund_id == refund.provider_refund_id
    assert event.refund.idempotency_key == refund.idempotency_key
    assert event.refund.status is RefundStatus.succeeded
    assert (event.refund.amount, event.refund.currency) == (12_999, "CNY")
    assert (await sandbox.gateway.get_refund(refund.provider_refund_id)).status == "succeeded"


async def test_a_webhook_signed_with_another_secret_does_not_verify(
    sandbox: Sandbox, receiver: Receiver
) -> None:
    await sandbox.gateway.create_refund(command())
    await receiver.wait_until(lambda: bool(receiver.accepted()))

    delivery = receiver.accepted()[0]
    header = delivery.headers["sandbox-signature"]
    with pytest.raises(InvalidSignature, match="does not match"):
        verify("whsec_wrong", header, delivery.body, int(time.time()), 300)


async def test_a_fail_rule_settles_the_refund_as_failed_with_its_reason(
    sandbox: Sandbox, receiver: Receiver
) -> None:
    await sandbox.add_rule(
        match_payment_reference="pay_1001", outcome="fail", reason="account_closed"
    )
    refund = await sandbox.gateway.create_refund(command())
    other = await sandbox.gateway.create_refund(command("other-key", payment_reference="pay_2"))

    await receiver.wait_until(lambda: len(receiver.accepted()) == 2)

    failed = await sandbox.gateway.get_refund(refund.provider_refund_id)
    assert failed.status is RefundStatus.failed
    assert failed.failure_reason == "account_closed"
    assert (await sandbox.gateway.get_refund(other.provider_refund_id)).status == "succeeded"
    [event] = [parse_webhook_event(d.body) for d in receiver.accepted("refund.failed")]
    assert event.refund.provider_refund_id == refund.provider_refund_id
    assert event.refund.failure_reason == "account_closed"


async def test_an_outage_is_retryable_and_the_retry_refunds_once(sandbox: Sandbox) -> None:
    await sandbox.add_rule(match_payment_reference="pay_1001", outcome="http_503", times=2)

    for _ in range(2):
        with pytest.raises(PaymentProviderUnavailable):
            await sandbox.gateway.create_refund(command())
    assert await sandbox.refunds_of("pay_1001") == []

    refund = await sandbox.gateway.create_refund(command())
    replay = await sandbox.gateway.create_refund(command())

    assert replay.provider_refund_id == refund.provider_refund_id
    assert len(await sandbox.refunds_of("pay_1001")) == 1


async def test_a_refund_reversed_after_success_reports_both_events_in_order(
    sandbox: Sandbox, receiver: Receiver
) -> None:
    await sandbox.add_rule(outcome="reverse_after_success", reason="beneficiary_account_closed")
    refund = await sandbox.gateway.create_refund(command())

    await receiver.wait_until(lambda: bool(receiver.accepted("refund.reversed")))

    events = [parse_webhook_event(d.body) for d in receiver.accepted()]
    assert [e.type for e in events] == ["refund.succeeded", "refund.reversed"]
    assert {e.refund.provider_refund_id for e in events} == {refund.provider_refund_id}
    reversed_refund = await sandbox.gateway.get_refund(refund.provider_refund_id)
    assert reversed_refund.status is RefundStatus.reversed
    assert reversed_refund.failure_reason == "beneficiary_account_closed"


async def test_a_failed_delivery_is_retried_with_the_same_event_id(
    sandbox: Sandbox, receiver: Receiver
) -> None:
    receiver.failures_left = 2

    await sandbox.gateway.create_refund(command())
    await receiver.wait_until(lambda: bool(receiver.accepted()))
    await asyncio.sleep(0.3)  # longer than the next backoff: a delivered event is not sent again

    assert [d.answered for d in receiver.deliveries] == [500, 500, 204]
    assert len({d.event["id"] for d in receiver.deliveries}) == 1
    assert {d.body for d in receiver.deliveries} == {receiver.deliveries[0].body}
    for delivery in receiver.deliveries:
        verify(SECRET, delivery.headers["sandbox-signature"], delivery.body, int(time.time()), 60)


async def test_settle_now_settles_one_refund_at_once(
    start_sandbox: StartSandbox, receiver: Receiver
) -> None:
    sandbox = await start_sandbox(settle_delays={"card": 3600.0})
    refund = await sandbox.gateway.create_refund(command())

    response = await sandbox.http.post(f"/v1/control/refunds/{refund.provider_refund_id}/settle")

    assert response.status_code == 200
    assert response.json()["status"] == "succeeded"
    await receiver.wait_until(lambda: bool(receiver.accepted("refund.succeeded")))


async def test_a_restarted_provider_keeps_its_refunds_and_settles_the_pending_ones(
    start_sandbox: StartSandbox, receiver: Receiver
) -> None:
    first = await start_sandbox(settle_delays={"card": 1.5})
    refund = await first.gateway.create_refund(command())
    await first.stop()

    second = await start_sandbox()

    kept = await second.gateway.get_refund(refund.provider_refund_id)
    assert kept.status is RefundStatus.pending
    assert kept.created_at == refund.created_at
    replay = await second.gateway.create_refund(command())
    assert replay.provider_refund_id == refund.provider_refund_id
    await receiver.wait_until(lambda: bool(receiver.accepted("refund.succeeded")))
    assert len(await second.refunds_of("pay_1001")) == 1


async def test_an_undelivered_event_is_delivered_after_a_restart(
    start_sandbox: StartSandbox, receiver: Receiver
) -> None:
    receiver.failures_left = 10**6
    first = await start_sandbox()
    await first.gateway.create_refund(command())
    await receiver.wait_until(lambda: bool(receiver.deliveries))
    await first.stop()
    receiver.failures_left = 0

    await start_sandbox()

    await receiver.wait_until(lambda: bool(receiver.accepted()))
    assert {d.event["id"] for d in receiver.deliveries} == {receiver.deliveries[0].event["id"]}


async def test_a_payment_older_than_the_refund_window_is_refused(sandbox: Sandbox) -> None:
    paid_long_ago = datetime.now(UTC) - timedelta(days=181)

    with pytest.raises(RefundRefused) as refused:
        await sandbox.gateway.create_refund(command(payment_created_at=paid_long_ago))

    assert refused.value.code == "payment_too_old"
    assert await sandbox.refunds_of("pay_1001") == []
    recent = await sandbox.gateway.create_refund(
        command(payment_created_at=datetime.now(UTC) - timedelta(days=179))
    )
    assert recent.status is RefundStatus.pending


async def test_an_unknown_refund_is_refused(sandbox: Sandbox) -> None:
    with pytest.raises(RefundRefused) as refused:
        await sandbox.gateway.get_refund("re_doesnotexist")

    assert refused.value.code == "refund_not_found"


async def test_requests_without_the_api_key_are_rejected(sandbox: Sandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as anonymous:
        response = await anonymous.get("/v1/refunds", params={"payment_reference": "pay_1001"})
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"

    wrong_key = SandboxPaymentGateway(sandbox.url, "sk_wrong")
    with pytest.raises(PaymentProviderUnavailable, match="401"):
        await wrong_key.create_refund(command())
    await wrong_key.aclose()


@pytest.mark.parametrize(
    ("headers", "amount", "status", "code"),
    [
        ({}, 100, 400, "idempotency_key_missing"),
        ({"Idempotency-Key": "k1"}, 0, 422, "invalid_request"),
        ({"Idempotency-Key": "k2"}, -5, 422, "invalid_request"),
        ({"Idempotency-Key": "k3"}, 10.5, 422, "invalid_request"),
    ],
)
async def test_invalid_create_requests_are_refused(
    sandbox: Sandbox, headers: dict[str, str], amount: object, status: int, code: str
) -> None:
    body = {
        "payment_reference": "pay_1001",
        "payment_method": "card",
        "amount": amount,
        "currency": "CNY",
    }

    response = await sandbox.http.post("/v1/refunds", json=body, headers=headers)

    assert (response.status_code, response.json()["code"]) == (status, code)
    assert await sandbox.refunds_of("pay_1001") == []


async def test_the_provider_being_down_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gateway = SandboxPaymentGateway(f"http://127.0.0.1:{port}", API_KEY, timeout=1.0)

    with pytest.raises(PaymentProviderUnavailable):
        await gateway.create_refund(command())
    await gateway.aclose()


async def test_a_500_rule_answers_500_makes_no_refund_and_the_retry_refunds_once(
    sandbox: Sandbox,
) -> None:
    await sandbox.add_rule(match_payment_reference="pay_1001", outcome="http_500", times=1)

    with pytest.raises(PaymentProviderUnavailable, match="500 internal_error"):
        await sandbox.gateway.create_refund(command())
    assert await sandbox.refunds_of("pay_1001") == []

    refund = await sandbox.gateway.create_refund(command())
    assert [r["id"] for r in await sandbox.refunds_of("pay_1001")] == [refund.provider_refund_id]


async def test_a_500_after_acting_made_the_refund_and_the_retry_finds_it(
    sandbox: Sandbox,
) -> None:
    await sandbox.add_rule(outcome="http_500", acts="before", times=1)

    with pytest.raises(PaymentProviderUnavailable, match="500"):
        await sandbox.gateway.create_refund(command())
    [made] = await sandbox.refunds_of("pay_1001")

    replay = await sandbox.gateway.create_refund(command())
    assert replay.provider_refund_id == made["id"]
    assert len(await sandbox.refunds_of("pay_1001")) == 1


async def test_a_slow_rule_answers_late_but_within_the_timeout_and_refunds_once(
    sandbox: Sandbox,
) -> None:
    await sandbox.add_rule(match_payment_reference="pay_1001", outcome="slow", delay=1.0, times=1)

    started = time.monotonic()
    refund = await sandbox.gateway.create_refund(command())  # the gateway waits up to 5 s
    took = time.monotonic() - started
    started = time.monotonic()
    replay = await sandbox.gateway.create_refund(command())

    assert 1.0 <= took < 5.0
    assert time.monotonic() - started < 1.0  # the rule was used once
    assert refund.status is RefundStatus.pending
    assert replay.provider_refund_id == refund.provider_refund_id
    assert len(await sandbox.refunds_of("pay_1001")) == 1


@pytest.mark.parametrize(
    ("acts", "made_at_timeout", "made_after_delay"),
    [("before", 1, 1), ("after_delay", 0, 1), ("never", 0, 0)],
)
async def test_a_timeout_rule_outlasts_the_callers_timeout_and_acts_as_told(
    sandbox: Sandbox, acts: str, made_at_timeout: int, made_after_delay: int
) -> None:
    await sandbox.add_rule(outcome="timeout", delay=1.5, acts=acts, times=1)
    impatient = SandboxPaymentGateway(sandbox.url, API_KEY, timeout=0.5)

    started = time.monotonic()
    with pytest.raises(PaymentProviderUnavailable, match="ReadTimeout"):
        await impatient.create_refund(command())
    assert time.monotonic() - started < 1.5
    at_timeout = await sandbox.refunds_of("pay_1001")
    await asyncio.sleep(1.5)  # the held request's delay is over: the provider did what it does
    after_delay = await sandbox.refunds_of("pay_1001")
    retried = await impatient.create_refund(command())
    await impatient.aclose()

    assert (len(at_timeout), len(after_delay)) == (made_at_timeout, made_after_delay)
    final = await sandbox.refunds_of("pay_1001")
    assert [r["id"] for r in final] == [retried.provider_refund_id]
    if after_delay:
        assert after_delay[0]["id"] == retried.provider_refund_id


async def test_a_retry_while_the_timed_out_request_is_still_held_makes_one_refund(
    sandbox: Sandbox,
) -> None:
    await sandbox.add_rule(outcome="timeout", delay=1.0, acts="after_delay", times=1)
    impatient = SandboxPaymentGateway(sandbox.url, API_KEY, timeout=0.3)

    with pytest.raises(PaymentProviderUnavailable):
        await impatient.create_refund(command())
    retried = await impatient.create_refund(command())  # the first request is still held
    await impatient.aclose()
    await asyncio.sleep(1.0)  # the held one now makes "its" refund: the same one, by its key

    assert [r["id"] for r in await sandbox.refunds_of("pay_1001")] == [retried.provider_refund_id]


async def test_a_timeout_that_finds_its_caller_still_waiting_answers_504_when_nothing_was_made(
    sandbox: Sandbox,
) -> None:
    await sandbox.add_rule(outcome="timeout", delay=0.3, acts="never", times=1)

    with pytest.raises(PaymentProviderUnavailable, match="504 gateway_timeout"):
        await sandbox.gateway.create_refund(command())
    assert await sandbox.refunds_of("pay_1001") == []


async def test_request_rules_apply_to_payouts_too(sandbox: Sandbox) -> None:
    await sandbox.add_rule(match_payment_reference="ORD-1", outcome="http_500", times=1)
    body = {
        "amount": 5_000,
        "currency": "EUR",
        "account": {"holder_name": "Li Wei", "iban": "DE89370400440532013000"},
        "reference": "ORD-1",
    }

    failed = await sandbox.http.post("/v1/payouts", json=body, headers={"Idempotency-Key": "p1"})
    made = await sandbox.http.post("/v1/payouts", json=body, headers={"Idempotency-Key": "p1"})

    assert (failed.status_code, failed.json()["code"]) == (500, "internal_error")
    assert made.status_code == 201


def test_the_default_delays_fall_either_side_of_the_adapters_client_timeout() -> None:
    client_timeout = inspect.signature(SandboxClient.__init__).parameters["timeout"].default
    assert DEFAULT_DELAYS["slow"] < client_timeout < DEFAULT_DELAYS["timeout"]


async def test_rules_show_their_delay_and_effect_and_refuse_what_does_not_apply(
    sandbox: Sandbox,
) -> None:
    for rule in ({"outcome": "slow"}, {"outcome": "timeout"}, {"outcome": "http_500"}):
        await sandbox.add_rule(**rule)
    listed = (await sandbox.http.get("/v1/control/rules")).json()
    refused = [
        await sandbox.http.post("/v1/control/rules", json=rule)
        for rule in ({"outcome": "fail", "delay": 2}, {"outcome": "slow", "acts": "never"})
    ]

    assert [(r["outcome"], r["delay"], r["acts"]) for r in listed] == [
        ("slow", DEFAULT_DELAYS["slow"], None),
        ("timeout", DEFAULT_DELAYS["timeout"], "before"),
        ("http_500", None, "never"),
    ]
    assert [r.status_code for r in refused] == [422, 422]


def test_a_file_written_before_the_delayed_rules_gains_their_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as old:
        old.execute(
            "CREATE TABLE rules (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
            " match_payment_reference TEXT, outcome TEXT NOT NULL, reason TEXT,"
            " times_remaining INTEGER)"
        )
        old.execute("INSERT INTO rules (id, outcome) VALUES ('rule_old', 'fail')")
        old.commit()

    db = Database(path)
    with db.transaction() as conn:
        added = rules.add(conn, RuleRequest(outcome="slow", delay=0.5))
        listed = rules.list_all(conn)
    db.close()

    assert (added.outcome, added.delay) == ("slow", 0.5)
    assert [(r.id, r.delay) for r in listed] == [("rule_old", None), (added.id, 0.5)]
