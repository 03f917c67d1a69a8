"""Returns whose courier webhooks misbehave, signed as the courier signs them: each scan sent
twice, scans out of order (delivered first), and late ones (in transit after delivered). Every
return must still reach inspection once, and its refund follow."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.couriers.signing import SIGNATURE_HEADER, sign
from reliability.flows import BUYER, MERCHANT, PLATFORM, Flow, new_order, when_status
from reliability.harness import Stack
from reliability.traffic import Answers, call
from settings import Settings

WAREHOUSE = "warehouse:wh-1001"
SCANS = ("picked_up", "in_transit", "delivered")
# The order each disorder sends the scans in (indexes into SCANS).
DISORDERS = {
    "duplicated": (0, 0, 1, 1, 2, 2),
    "out of order": (2, 0, 1),
    "late": (0, 2, 1, 0),
}


def _events(tracking_no: str) -> list[dict[str, Any]]:
    start = datetime.now(UTC) - timedelta(hours=3)
    return [
        {
            "event_id": f"ev_{uuid.uuid4().hex[:16]}",
            "tracking_no": tracking_no,
            "status": status,
            "description": status.replace("_", " "),
            "location": "Shenzhen",
            "occurred_at": (start + timedelta(hours=i)).isoformat(),
        }
        for i, status in enumerate(SCANS)
    ]


async def _send(stack: Stack, answers: Answers, event: dict[str, Any]) -> None:
    raw = json.dumps({"carrier": "sf", "events": [event]}).encode()
    secret = Settings().courier_sandbox.webhook_secret.get_secret_value()
    async with stack.client(BUYER) as http:
        http.headers.pop("Authorization")
        http.headers[SIGNATURE_HEADER] = sign(secret, raw, int(time.time()))
        http.headers["Content-Type"] = "application/json"
        answer = await http.post("/v1/webhooks/couriers/sf", content=raw)
    answers.note(time.monotonic(), 0.0, "webhook", str(answer.status_code))
    assert answer.status_code == 200, answer.text


IN_ORDER = (0, 1, 2)


async def to_warehouse(
    stack: Stack, answers: Answers, flow: Flow, scans: tuple[int, ...] = IN_ORDER
) -> None:
    """A return opened, approved and shipped back; its courier webhooks sent in the order of
    `scans` (indexes into SCANS); back once the parcel is delivered and awaits inspection."""
    flow.tracking_no = f"SF{uuid.uuid4().hex[:10].upper()}"
    qty = flow.order.lines["L1"]
    async with stack.client(BUYER) as buyer, stack.client(MERCHANT) as merchant:
        opened = await call(
            answers,
            buyer,
            "POST",
            "/v1/tickets",
            {
                "order_id": flow.order.order_id,
                "type": "return_refund",
                "lines": [{"line_id": "L1", "quantity": qty}],
                "reason_code": "no_longer_needed",
            },
        )
        assert opened.status_code == 201, opened.text
        flow.ticket_no = opened.json()["ticket_no"]
        await when_status(stack, answers, flow.ticket_no, "awaiting_merchant_review")
        approve = f"/v1/tickets/{flow.ticket_no}/approve"
        approved = await call(answers, merchant, "POST", approve, {})
        assert approved.status_code == 200, approved.text
        shipment = {"carrier": "SF", "tracking_no": flow.tracking_no}
        shipped = await call(
            answers, buyer, "POST", f"/v1/tickets/{flow.ticket_no}/return-shipment", shipment
        )
        assert shipped.status_code == 200, shipped.text
    events = _events(flow.tracking_no)
    for index in scans:
        await _send(stack, answers, events[index])
    await when_status(stack, answers, flow.ticket_no, "awaiting_inspection")


async def inspect(stack: Stack, answers: Answers, flow: Flow) -> None:
    """The warehouse scans the parcel in and accepts every item."""
    qty = flow.order.lines["L1"]
    async with stack.client(WAREHOUSE, timeout=30) as warehouse:
        code = {"code": flow.tracking_no}
        scan = await call(answers, warehouse, "POST", "/v1/warehouse/scans", code)
        assert scan.status_code == 200, scan.text
        inspection = {"lines": [{"line_id": "L1", "accepted": qty, "rejected": 0}], "note": "ok"}
        inspected = await call(
            answers, warehouse, "POST", f"/v1/tickets/{flow.ticket_no}/inspection", inspection
        )
        assert inspected.status_code == 200, inspected.text


async def return_orders(
    stack: Stack, rng: random.Random, answers: Answers, count: int
) -> list[Flow]:
    """`count` delivered orders upserted by the platform, one return flow each."""
    flows = []
    async with stack.client(PLATFORM) as platform:
        for _ in range(count):
            order, body = new_order(rng, shipped=True)
            await call(answers, platform, "PUT", f"/v1/orders/{order.order_id}", body)
            flows.append(Flow(order=order, needs_review=True))
    return flows


async def _journey(stack: Stack, answers: Answers, flow: Flow, disorder: str) -> None:
    await to_warehouse(stack, answers, flow, DISORDERS[disorder])
    await inspect(stack, answers, flow)


async def return_journeys(
    stack: Stack, rng: random.Random, answers: Answers, count: int
) -> tuple[list[Flow], list[str]]:
    flows = await return_orders(stack, rng, answers, count)
    disorders = [list(DISORDERS)[i % len(DISORDERS)] for i in range(count)]
    await asyncio.gather(
        *(_journey(stack, answers, f, d) for f, d in zip(flows, disorders, strict=True))
    )
    counts = {d: disorders.count(d) for d in DISORDERS}
    sent = sum(len(DISORDERS[d]) * n for d, n in counts.items())
    return flows, [
        f"{sent} webhooks for {count} parcels: " + ", ".join(f"{n} {d}" for d, n in counts.items())
    ]
