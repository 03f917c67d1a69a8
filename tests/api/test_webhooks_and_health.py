"""Payment webhooks are verified and applied once; health endpoints tell the truth."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import func, select

from adapters.payments.signing import SIGNATURE_HEADER, sign
from persistence.models import PaymentEventSeen
from tests.support.orders import buyer_id, line, open_ticket, order_body
from tests.support.stack import WEBHOOK_SECRET, Stack


async def _completed_ticket(stack: Stack, label: str) -> dict[str, Any]:
    body = order_body([line("L1", 1, 2500)], buyer=buyer_id(label))
    async with stack.client("platform:shop") as platform, stack.client(label) as buyer:
        ticket_no = await open_ticket(platform, buyer, body, ("L1", 1))
    return await stack.ticket_when(label, ticket_no, "completed")


def _event(ticket: dict[str, Any], event_id: str, status: str) -> bytes:
    refund = ticket["refunds"][0]
    now = int(time.time())
    return json.dumps(
        {
            "id": event_id,
            "type": f"refund.{status}",
            "created": now,
            "data": {
                "id": refund["provider_refund_id"],
                "status": status,
                "amount": refund["amount"],
                "currency": refund["currency"],
                "idempotency_key": refund["idempotency_key"],
                "failure_reason": None,
                "created_at": "2026-11-23T00:00:00Z",
                "updated_at": "2026-11-23T00:00:00Z",
            },
        }
    ).encode()


async def _seen(stack: Stack, event_id: str) -> int:
    async with stack.sessions() as session:
        count = await session.scalar(
            select(func.count()).where(PaymentEventSeen.event_id == event_id)
        )
    return int(count or 0)


async def test_a_webhook_with_a_bad_or_stale_signature_is_refused_and_changes_nothing(
    stack: Stack,
) -> None:
    label = await stack.new_buyer()
    ticket = await _completed_ticket(stack, label)
    body = _event(ticket, "evt_forged_1", "failed")
    now = int(time.time())
    attempts = {
        "wrong secret": sign("whsec_someone_else", body, now),
        "stale": sign(WEBHOOK_SECRET, body, now - 3600),
        "missing": None,
        "tampered": sign(WEBHOOK_SECRET, body.replace(b"failed", b"reversed"), now),
    }
    async with stack.client(None) as anonymous:
        answers = {}
        for name, header in attempts.items():
            headers = {SIGNATURE_HEADER: header} if header else {}
            response = await anonymous.post(
                "/v1/webhooks/payments/sandbox", content=body, headers=headers
            )
            answers[name] = (response.status_code, response.json()["code"])
    after = await stack.ticket_when(label, ticket["ticket_no"], "completed")

    assert answers == {name: (401, "invalid_signature") for name in attempts}
    assert await _seen(stack, "evt_forged_1") == 0
    assert after["refunds"] == ticket["refunds"]
    assert after["timeline"] == ticket["timeline"]


async def test_a_replayed_webhook_is_applied_once(stack: Stack) -> None:
    ticket = await _completed_ticket(stack, await stack.new_buyer())
    body = _event(ticket, "evt_replayed_1", "succeeded")
    async with stack.client(None) as anonymous:
        answers = []
        for _ in range(3):
            response = await anonymous.post(
                "/v1/webhooks/payments/sandbox",
                content=body,
                headers={SIGNATURE_HEADER: sign(WEBHOOK_SECRET, body, int(time.time()))},
            )
            answers.append(response.json()["status"])
        unknown_provider = await anonymous.post("/v1/webhooks/payments/paypal", content=body)

    assert answers[0] in ("accepted",) and answers[1:] == ["duplicate", "duplicate"]
    assert await _seen(stack, "evt_replayed_1") == 1
    assert unknown_provider.status_code == 404


async def test_health_readiness_and_metrics(stack: Stack) -> None:
    async with stack.client(None) as anonymous:
        health = await anonymous.get("/healthz")
        ready = await anonymous.get("/readyz")
        metrics = await anonymous.get("/metrics")
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200 and ready.json()["temporal"] == "ok"
    assert 'aftersales_http_requests_total{method="GET",route="/healthz",status="200"}' in (
        metrics.text
    )
