"""Refunds by bank transfer through the sandbox payment provider, over real HTTP, through the
SandboxPayoutGateway adapter.

Each test runs the provider with uvicorn on a free local port, and a small webhook receiver that
records what the provider POSTs to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from adapters.payments.port import PaymentProviderUnavailable, RefundRefused
from adapters.payments.sandbox import parse_webhook_event
from adapters.payments.signing import SIGNATURE_HEADER, verify
from adapters.payouts.port import PayoutCommand, PayoutGateway, ProviderRefund
from adapters.payouts.sandbox import SandboxPayoutGateway
from domain.bank_accounts import BankAccount
from domain.tickets import RefundStatus
from sandbox.payment_provider import ProviderConfig, create_app
from sandbox.payment_provider.db import Database
from tests.support.servers import serving

API_KEY = "sk_test_sandbox"
SECRET = "whsec_test_sandbox"
IBAN = "DE89370400440532013000"
FAST = 0.05


class Receiver:
    """The engine's webhook endpoint, as far as the provider can tell: 204, or 500 for the event
    types in `refusing`."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes, int]] = []
        self.refusing: set[str] = set()
        self.url = ""
        self._arrived = asyncio.Event()
        self.app = FastAPI()
        self.app.add_api_route("/hooks", self._receive, methods=["POST"])

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        status = 500 if json.loads(body)["type"] in self.refusing else 204
        self.deliveries.append((dict(request.headers), body, status))
        self._arrived.set()
        return Response(status_code=status)

    def accepted(self) -> list[tuple[dict[str, str], bytes]]:
        return [(headers, body) for headers, body, status in self.deliveries if status == 204]

    def accepted_types(self) -> list[str]:
        return [json.loads(body)["type"] for _, body in self.accepted()]

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(5.0):
            while len(self.accepted()) < count:
                self._arrived.clear()
                await self._arrived.wait()


@dataclasses.dataclass
class Sandbox:
    gateway: SandboxPayoutGateway
    http: httpx.AsyncClient

    async def add_rule(self, **rule: Any) -> None:
        response = await self.http.post("/v1/control/rules", json=rule)
        assert response.status_code == 201, response.text

    async def settled(self, payout_id: str, status: RefundStatus) -> ProviderRefund:
        """The payout once the provider reports `status`: polled, as the engine does when a
        webhook is late."""
        async with asyncio.timeout(5.0):
            while True:
                payout = await self.gateway.get_payout(payout_id)
                if payout.status is status:
                    return payout
                await asyncio.sleep(0.02)


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
                payout_settle_delay=FAST,
                reverse_delay=0.1,
                webhook_backoff_initial=0.1,
            )
            url = await stack.enter_async_context(
                serving(create_app(dataclasses.replace(config, **overrides)))
            )
            gateway = SandboxPayoutGateway(url, API_KEY, timeout=5.0)
            stack.push_async_callback(gateway.aclose)
            http = await stack.enter_async_context(
                httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {API_KEY}"})
            )
            return Sandbox(gateway, http)

        yield start


@pytest.fixture
async def sandbox(start_sandbox: StartSandbox) -> Sandbox:
    return await start_sandbox()


def command(key: str = "AS20261123-000042:payout:1", **changes: Any) -> PayoutCommand:
    fields: dict[str, Any] = {
        "idempotency_key": key,
        "amount": 12_999,
        "currency": "EUR",
        "account": BankAccount(holder_name="Anna Schmidt", iban=IBAN),
        "reference": "ORD-1001",
        "metadata": {"ticket": "AS20261123-000042"},
    }
    return PayoutCommand.model_validate(fields | changes)


def payout_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "amount": 12_999,
        "currency": "EUR",
        "account": {"holder_name": "Anna Schmidt", "iban": IBAN},
        "reference": "ORD-1001",
        "metadata": {},
    }
    return body | changes


async def test_a_payout_is_pending_then_settles_as_succeeded(sandbox: Sandbox) -> None:
    gateway: PayoutGateway = sandbox.gateway

    payout = await gateway.create_payout(command())

    assert payout.provider == "sandbox-payouts"
    assert payout.provider_refund_id.startswith("po_")
    assert payout.idempotency_key == "AS20261123-000042:payout:1"
    assert payout.status is RefundStatus.pending
    assert (payout.amount, payout.currency) == (12_999, "EUR")
    settled = await sandbox.settled(payout.provider_refund_id, RefundStatus.succeeded)
    assert settled.failure_reason is None
    assert settled.created_at == payout.created_at


async def test_a_replayed_payout_returns_the_same_payout(sandbox: Sandbox) -> None:
    first = await sandbox.gateway.create_payout(command())
    replays = await asyncio.gather(*(sandbox.gateway.create_payout(command()) for _ in range(5)))

    assert {r.provider_refund_id for r in replays} == {first.provider_refund_id}


async def test_the_same_key_with_another_body_is_refused(sandbox: Sandbox) -> None:
    first = await sandbox.gateway.create_payout(command())

    with pytest.raises(RefundRefused) as refused:
        await sandbox.gateway.create_payout(command(amount=13_000))

    assert refused.value.code == "idempotency_key_reused"
    kept = await sandbox.gateway.get_payout(first.provider_refund_id)
    assert kept.amount == 12_999


async def test_an_invalid_iban_is_refused_and_creates_nothing(
    sandbox: Sandbox, receiver: Receiver
) -> None:
    # An account stored before IBANs were checked reaches the provider unchecked.
    mistyped = BankAccount.model_construct(
        holder_name="Anna Schmidt", iban="DE88370400440532013000"
    )

    with pytest.raises(RefundRefused) as refused:
        await sandbox.gateway.create_payout(command(account=mistyped))

    assert refused.value.code == "invalid_account"
    assert refused.value.message == "iban: IBAN check digits do not match"
    # The key was not used up: the corrected account makes the first and only payout.
    response = await sandbox.http.post(
        "/v1/payouts",
        json=payout_body(amount=500),
        headers={"Idempotency-Key": "AS20261123-000042:payout:1"},
    )
    assert (response.status_code, response.json()["amount"]) == (201, 500)
    await receiver.wait_for(1)
    assert receiver.accepted_types() == ["payout.succeeded"]


@pytest.mark.parametrize(
    ("account", "message"),
    [
        ({"holder_name": "Anna", "iban": "DE8937040044053201300"}, "DE IBANs have 22 characters"),
        ({"holder_name": "Anna", "iban": "XX89370400440532013000"}, "unknown country code"),
        ({"holder_name": "  ", "iban": IBAN}, "holder_name: the account holder's name is blank"),
    ],
)
async def test_the_provider_says_what_is_wrong_with_an_account(
    sandbox: Sandbox, account: dict[str, str], message: str
) -> None:
    response = await sandbox.http.post(
        "/v1/payouts", json=payout_body(account=account), headers={"Idempotency-Key": "k"}
    )

    assert (response.status_code, response.json()["code"]) == (422, "invalid_account")
    assert message in response.json()["message"]


async def test_the_provider_answers_with_the_account_holder_and_last_four_only(
    sandbox: Sandbox, receiver: Receiver
) -> None:
    typed = {"holder_name": " Anna Schmidt ", "iban": "de89 3704 0044 0532 0130 00"}

    created = await sandbox.http.post(
        "/v1/payouts", json=payout_body(account=typed), headers={"Idempotency-Key": "k1"}
    )
    replayed = await sandbox.http.post(
        "/v1/payouts", json=payout_body(), headers={"Idempotency-Key": "k1"}
    )

    assert (created.status_code, replayed.status_code) == (201, 200)
    payout = created.json()
    assert replayed.json()["id"] == payout["id"]
    assert payout["object"] == "payout"
    assert payout["account_holder"] == "Anna Schmidt"
    assert payout["account_last4"] == "3000"
    assert payout["reference"] == "ORD-1001"
    assert "iban" not in payout
    await receiver.wait_for(1)
    for text in (created.text, replayed.text, receiver.accepted()[0][1].decode()):
        assert "0532013000" not in text


async def test_a_fail_rule_settles_the_payout_as_failed_with_its_reason(
    sandbox: Sandbox, receiver: Receiver
) -> None:
    await sandbox.add_rule(match_payment_reference="ORD-1001", outcome="fail")
    await sandbox.add_rule(match_payment_reference="ORD-2002", outcome="fail", reason="blocked")
    closed = await sandbox.gateway.create_payout(command())
    blocked = await sandbox.gateway.create_payout(command("key-2", reference="ORD-2002"))
    other = await sandbox.gateway.create_payout(command("key-3", reference="ORD-3003"))

    failed = await sandbox.settled(closed.provider_refund_id, RefundStatus.failed)
    assert failed.failure_reason == "account_closed"
    failed = await sandbox.settled(blocked.provider_refund_id, RefundStatus.failed)
    assert failed.failure_reason == "blocked"
    await sandbox.settled(other.provider_refund_id, RefundStatus.succeeded)
    await receiver.wait_for(3)
    assert sorted(receiver.accepted_types()) == [
        "payout.failed",
        "payout.failed",
        "payout.succeeded",
    ]


async def test_a_returned_transfer_succeeds_then_is_reversed(sandbox: Sandbox) -> None:
    await sandbox.add_rule(match_payment_reference="ORD-1001", outcome="reverse_after_success")
    payout = await sandbox.gateway.create_payout(command())

    await sandbox.settled(payout.provider_refund_id, RefundStatus.succeeded)
    returned = await sandbox.settled(payout.provider_refund_id, RefundStatus.reversed)

    assert returned.failure_reason == "returned_by_receiving_bank"


async def test_signed_webhooks_report_the_success_then_the_reversal(
    sandbox: Sandbox, receiver: Receiver
) -> None:
    # The success is not delivered until the money has come back, and for a while after.
    receiver.refusing = {"payout.succeeded"}
    await sandbox.add_rule(outcome="reverse_after_success", reason="beneficiary_account_closed")
    payout = await sandbox.gateway.create_payout(command())
    await sandbox.settled(payout.provider_refund_id, RefundStatus.reversed)
    await asyncio.sleep(0.3)
    assert receiver.accepted() == []

    receiver.refusing.clear()
    await receiver.wait_for(2)

    assert receiver.accepted_types() == ["payout.succeeded", "payout.reversed"]
    events = []
    for headers, body in receiver.accepted():
        verify(SECRET, headers[SIGNATURE_HEADER.lower()], body, int(time.time()), 300)
        events.append(parse_webhook_event(body))
    assert [e.type for e in events] == ["payout.succeeded", "payout.reversed"]
    assert [e.refund.status for e in events] == [RefundStatus.succeeded, RefundStatus.reversed]
    for event in events:
        assert event.event_id.startswith("evt_")
        assert event.refund.provider == "sandbox-payouts"
        assert event.refund.provider_refund_id == payout.provider_refund_id
        assert event.refund.idempotency_key == payout.idempotency_key
        assert (event.refund.amount, event.refund.currency) == (12_999, "EUR")
    assert events[1].refund.failure_reason == "beneficiary_account_closed"


async def test_an_outage_is_retryable_and_the_retry_pays_once(sandbox: Sandbox) -> None:
    await sandbox.add_rule(match_payment_reference="ORD-1001", outcome="http_503", times=1)

    with pytest.raises(PaymentProviderUnavailable, match="503"):
        await sandbox.gateway.create_payout(command())
    payout = await sandbox.gateway.create_payout(command())
    replay = await sandbox.gateway.create_payout(command())

    assert replay.provider_refund_id == payout.provider_refund_id


async def test_settle_now_settles_one_payout_at_once(
    start_sandbox: StartSandbox, receiver: Receiver
) -> None:
    sandbox = await start_sandbox(payout_settle_delay=3600.0)
    payout = await sandbox.gateway.create_payout(command())

    response = await sandbox.http.post(f"/v1/control/payouts/{payout.provider_refund_id}/settle")

    assert (response.status_code, response.json()["status"]) == (200, "succeeded")
    await receiver.wait_for(1)
    missing = await sandbox.http.post("/v1/control/payouts/po_missing/settle")
    assert (missing.status_code, missing.json()["code"]) == (404, "payout_not_found")


async def test_an_unknown_payout_is_refused(sandbox: Sandbox) -> None:
    with pytest.raises(RefundRefused) as refused:
        await sandbox.gateway.get_payout("po_doesnotexist")

    assert refused.value.code == "payout_not_found"


@pytest.mark.parametrize(
    ("headers", "changes", "status", "code"),
    [
        ({}, {}, 400, "idempotency_key_missing"),
        ({"Idempotency-Key": "k"}, {"amount": 0}, 422, "invalid_request"),
        ({"Idempotency-Key": "k"}, {"amount": 10.5}, 422, "invalid_request"),
        ({"Idempotency-Key": "k"}, {"amount": "100"}, 422, "invalid_request"),
        ({"Idempotency-Key": "k"}, {"reference": ""}, 422, "invalid_request"),
        ({"Idempotency-Key": "k"}, {"bic": "COBADEFFXXX"}, 422, "invalid_request"),
    ],
)
async def test_invalid_payout_requests_are_refused(
    sandbox: Sandbox, headers: dict[str, str], changes: dict[str, Any], status: int, code: str
) -> None:
    response = await sandbox.http.post("/v1/payouts", json=payout_body(**changes), headers=headers)

    assert (response.status_code, response.json()["code"]) == (status, code)


async def test_requests_without_the_api_key_are_unavailable_not_refused(sandbox: Sandbox) -> None:
    url = str(sandbox.http.base_url).rstrip("/")
    wrong_key = SandboxPayoutGateway(url, "sk_wrong")

    with pytest.raises(PaymentProviderUnavailable, match="401"):
        await wrong_key.create_payout(command())
    await wrong_key.aclose()


def test_a_provider_file_from_before_payouts_keeps_its_undelivered_events(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as old:
        old.executescript(
            """
            CREATE TABLE events (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                type TEXT NOT NULL,
                refund_id TEXT NOT NULL REFERENCES refunds (id),
                created INTEGER NOT NULL,
                payload TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at REAL NOT NULL,
                delivered_at REAL,
                last_error TEXT
            );
            INSERT INTO events (id, type, refund_id, created, payload, attempts, next_attempt_at)
                VALUES ('evt_old', 'refund.succeeded', 're_old', 1, '{}', 3, 2.5);
            """
        )

    db = Database(path)
    with db.reading() as conn:
        columns = [row["name"] for row in conn.execute("PRAGMA table_info(events)")]
        kept = conn.execute("SELECT * FROM events").fetchall()
        indexes = {row["name"] for row in conn.execute("PRAGMA index_list(events)")}
    db.close()

    assert "object_id" in columns and "refund_id" not in columns
    assert [(r["id"], r["object_id"], r["attempts"], r["delivered_at"]) for r in kept] == [
        ("evt_old", "re_old", 3, None)
    ]
    assert "events_undelivered" in indexes
