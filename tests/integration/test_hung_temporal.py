"""A Temporal server that hangs rather than goes away: the API's connection stays open and no
answer comes. Every call that needs Temporal is still answered within 5 s: an action refused
before it is sent, a courier's webhook refused with nothing stored, so the courier's resend is
taken once Temporal answers again; reads of the database go on."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable

import httpx
import pytest

from adapters.couriers.signing import SIGNATURE_HEADER, sign
from tests.api.test_courier_webhooks import in_transit, stored, webhook_body
from tests.integration.test_hung_database import WITHIN
from tests.support.fault_stack import FaultyApi, faulty_api, refused, timed
from tests.support.stack import COURIER_SECRET, Stack
from tests.support.tickets import MERCHANT, open_for_review


async def _timed(what: str, call: Awaitable[httpx.Response]) -> httpx.Response:
    return await timed(what, call, within=WITHIN)


@pytest.fixture
async def faulty(stack: Stack) -> AsyncIterator[FaultyApi]:
    async with faulty_api(stack) as api:
        yield api


async def test_with_temporal_hung_actions_and_webhooks_answer_503_in_time_and_resends_count_once(
    stack: Stack, faulty: FaultyApi
) -> None:
    reviewed = await open_for_review(stack)
    shipped, tracking_no = await in_transit(stack)
    event_id = f"evt-{uuid.uuid4().hex[:12]}"
    body = webhook_body(tracking_no, event_id, "delivered")
    headers = {
        SIGNATURE_HEADER: sign(COURIER_SECRET, body, int(time.time())),
        "Content-Type": "application/json",
    }
    approve = {"Idempotency-Key": f"approve-{uuid.uuid4().hex[:12]}"}
    webhook = "/v1/webhooks/couriers/sf"

    async with faulty.client(MERCHANT) as merchant, faulty.client(reviewed.buyer) as buyer:
        # The API's connection to Temporal is open before the server hangs.
        assert (await buyer.get("/readyz")).status_code == 200
        faulty.temporal.hang()
        try:
            approved = await _timed(
                "temporal hung, approve",
                merchant.post(
                    f"/v1/tickets/{reviewed.ticket_no}/approve", json={}, headers=approve
                ),
            )
            refused(approved, "temporal_unavailable")
            delivered = await _timed(
                "temporal hung, courier webhook",
                merchant.post(webhook, content=body, headers=headers),
            )
            refused(delivered, "temporal_unavailable")
            read = await _timed(
                "temporal hung, GET ticket", buyer.get(f"/v1/tickets/{reviewed.ticket_no}")
            )
            assert read.status_code == 200 and read.json()["status"] == "awaiting_merchant_review"
        finally:
            faulty.temporal.resume()
        # Refused means not stored: the courier's resend is the first the engine takes.
        assert await stored(stack, event_id=event_id) == []

        async with asyncio.timeout(30):
            while True:
                resent = await merchant.post(webhook, content=body, headers=headers)
                if resent.status_code != 503:
                    break
                await asyncio.sleep(0.5)
        assert resent.status_code == 200, resent.text
        assert resent.json()["accepted"] == 1
        again = await merchant.post(webhook, content=body, headers=headers)
        assert again.json() == {**again.json(), "accepted": 0, "duplicate": 1}
    await stack.ticket_when(shipped.buyer, shipped.ticket_no, "awaiting_inspection")
    assert len(await stored(stack, event_id=event_id)) == 1
