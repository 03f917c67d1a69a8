"""Courier tracking over the real stack: the sandbox courier's signed webhooks reach the ticket
once, forged ones change nothing, and the polling activity sees the same events under the same
ids.

Every ticket ships its return with a tracking number of its own (the shared `PARCEL` of
tests/support/tickets.py would make a courier event concern many tickets).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.api.enums.v1 import EventType
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.testing import ActivityEnvironment

import contracts as c
from activities.tracking import TrackingActivities
from adapters.couriers.sandbox import SandboxCourierClient
from adapters.couriers.signing import SIGNATURE_HEADER, sign
from persistence.models import TrackingEvent
from persistence.tracking import events_of
from tests.support.servers import free_port
from tests.support.stack import COURIER_KEY, COURIER_SECRET, Stack
from tests.support.tickets import Opened, act, read, to_state


async def in_transit(stack: Stack) -> tuple[Opened, str]:
    """A return_refund ticket whose buyer shipped the goods back under a fresh tracking number."""
    opened = await to_state(stack, "awaiting_buyer_return", type="return_refund")
    tracking_no = f"SF{uuid.uuid4().hex[:10].upper()}"
    shipped = await act(
        stack,
        opened.buyer,
        opened.ticket_no,
        "return-shipment",
        {"carrier": "SF", "tracking_no": tracking_no},
    )
    assert shipped.status_code == 200 and shipped.json()["status"] == "return_in_transit"
    return opened, tracking_no


async def scan(stack: Stack, tracking_no: str, status: str) -> dict[str, Any]:
    """The courier scans the parcel; its webhook goes to the API on its own."""
    async with stack.courier() as courier:
        response = await courier.post(
            f"/control/parcels/{tracking_no}/events", json={"status": status, "carrier": "sf"}
        )
    assert response.status_code == 201, response.text
    event: dict[str, Any] = response.json()
    return event


def webhook_body(tracking_no: str, event_id: str, status: str) -> bytes:
    event = {
        "event_id": event_id,
        "tracking_no": tracking_no,
        "status": status,
        "description": "scanned",
        "location": "Shenzhen",
        "occurred_at": datetime.now(UTC).isoformat(),
    }
    return json.dumps({"carrier": "sf", "events": [event]}).encode()


async def stored(stack: Stack, **where: str) -> list[TrackingEvent]:
    async with stack.sessions() as session:
        query = select(TrackingEvent).filter_by(**where)
        return list((await session.execute(query)).scalars())


async def tracking_signals(stack: Stack, ticket_no: str) -> int:
    history = await stack.temporal.client.get_workflow_handle(ticket_no).fetch_history()
    return sum(
        1
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        and event.workflow_execution_signaled_event_attributes.signal_name == "tracking_event"
    )


async def test_the_courier_delivering_the_return_puts_the_ticket_up_for_inspection(
    stack: Stack,
) -> None:
    opened, tracking_no = await in_transit(stack)
    scans = [await scan(stack, tracking_no, s) for s in ("picked_up", "in_transit", "delivered")]

    ticket = await stack.ticket_when(opened.buyer, opened.ticket_no, "awaiting_inspection")
    async with stack.sessions() as session:
        events = await events_of(session, opened.ticket_no)

    arrived = ticket["timeline"][-1]
    assert arrived["event"] == "return_delivered"
    assert arrived["data"]["event_id"] == f"sf:{scans[-1]['event_id']}"
    assert ticket["next_actor"] == "warehouse" and ticket["deadline_at"] is not None
    assert [(e.event_id, e.status, e.tracking_no) for e in events] == [
        (s["event_id"], s["status"], tracking_no) for s in scans
    ]
    assert {e.carrier for e in events} == {"sf"}


async def test_a_lost_return_parcel_is_refunded_automatically(stack: Stack) -> None:
    opened, tracking_no = await in_transit(stack)
    await scan(stack, tracking_no, "picked_up")
    await scan(stack, tracking_no, "lost")

    ticket = await stack.ticket_when(opened.buyer, opened.ticket_no, "refunding", "completed")

    assert any(entry["event"] == "return_lost" for entry in ticket["timeline"])
    assert ticket["refunds"], ticket


async def test_a_webhook_with_a_bad_or_stale_signature_is_refused_and_changes_nothing(
    stack: Stack,
) -> None:
    opened, tracking_no = await in_transit(stack)
    before = (await read(stack, opened.buyer, opened.ticket_no)).json()
    body = webhook_body(tracking_no, "ev_forged_1", "delivered")
    now = int(time.time())
    attempts = {
        "wrong secret": sign("whsec_someone_else", body, now),
        "stale": sign(COURIER_SECRET, body, now - 3600),
        "missing": None,
        "tampered": sign(COURIER_SECRET, body.replace(b"delivered", b"lost"), now),
    }
    answers = {}
    async with stack.client(None) as anonymous:
        for name, header in attempts.items():
            headers = {SIGNATURE_HEADER: header} if header else {}
            response = await anonymous.post(
                "/v1/webhooks/couriers/sf", content=body, headers=headers
            )
            answers[name] = (
                response.status_code,
                response.headers["content-type"],
                response.json()["code"],
            )
    await asyncio.sleep(1.0)
    after = (await read(stack, opened.buyer, opened.ticket_no)).json()

    expected = (401, "application/problem+json", "invalid_signature")
    assert answers == {name: expected for name in attempts}
    assert await stored(stack, event_id="ev_forged_1") == []
    assert after["status"] == "return_in_transit"
    assert after["timeline"] == before["timeline"]
    assert await tracking_signals(stack, opened.ticket_no) == 0


async def test_a_replayed_webhook_is_stored_once_and_signalled_once(stack: Stack) -> None:
    opened, tracking_no = await in_transit(stack)
    body = webhook_body(tracking_no, f"ev_{uuid.uuid4().hex[:12]}", "in_transit")
    answers = []
    async with stack.client(None) as anonymous:
        for _ in range(3):
            response = await anonymous.post(
                "/v1/webhooks/couriers/SF",
                content=body,
                headers={SIGNATURE_HEADER: sign(COURIER_SECRET, body, int(time.time()))},
            )
            assert response.status_code == 200, response.text
            answers.append(response.json())

    rows = await stored(stack, tracking_no=tracking_no)
    assert answers[0]["accepted"] == 1
    assert [a["duplicate"] for a in answers[1:]] == [1, 1]
    assert [(r.ticket_no, r.source) for r in rows] == [(opened.ticket_no, "webhook")]
    assert await tracking_signals(stack, opened.ticket_no) == 1


async def test_webhooks_of_unknown_carriers_or_parcels(stack: Stack) -> None:
    tracking_no = f"SF{uuid.uuid4().hex[:10].upper()}"
    body = webhook_body(tracking_no, f"ev_{uuid.uuid4().hex[:12]}", "picked_up")
    headers = {SIGNATURE_HEADER: sign(COURIER_SECRET, body, int(time.time()))}
    async with stack.client(None) as anonymous:
        unknown_carrier = await anonymous.post(
            "/v1/webhooks/couriers/dhl", content=body, headers=headers
        )
        mismatch = await anonymous.post("/v1/webhooks/couriers/yto", content=body, headers=headers)
        garbage_body = b'{"carrier": "sf"}'
        garbage = await anonymous.post(
            "/v1/webhooks/couriers/sf",
            content=garbage_body,
            headers={SIGNATURE_HEADER: sign(COURIER_SECRET, garbage_body, int(time.time()))},
        )
        unmatched = await anonymous.post("/v1/webhooks/couriers/sf", content=body, headers=headers)

    assert (unknown_carrier.status_code, unknown_carrier.json()["code"]) == (404, "unknown_carrier")
    assert (mismatch.status_code, mismatch.json()["code"]) == (422, "carrier_mismatch")
    assert (garbage.status_code, garbage.json()["code"]) == (422, "invalid_event")
    # Acknowledged, so the courier stops redelivering; kept, in case the parcel turns up.
    assert unmatched.status_code == 200 and unmatched.json()["unmatched"] == 1
    assert [r.ticket_no for r in await stored(stack, tracking_no=tracking_no)] == [None]


def tracker(
    stack: Stack, url: str | None = None
) -> tuple[TrackingActivities, SandboxCourierClient]:
    client = SandboxCourierClient(url or stack.courier_url, COURIER_KEY, timeout=2)
    return TrackingActivities(stack.sessions, {"sf": client}, timedelta(seconds=0.1)), client


async def test_polling_finds_the_webhook_events_under_the_same_ids_and_stores_none_twice(
    stack: Stack,
) -> None:
    opened, tracking_no = await in_transit(stack)
    activities, client = tracker(stack)
    query = c.ParcelQuery(ticket_no=opened.ticket_no, carrier="SF", tracking_no=tracking_no)
    beats: list[Any] = []
    env = ActivityEnvironment()
    env.on_heartbeat = beats.append
    polling = asyncio.create_task(env.run(activities.track_parcel, query))
    scans = [await scan(stack, tracking_no, "picked_up")]
    await asyncio.sleep(0.5)
    assert not polling.done(), "picked_up is not where polling stops"
    scans += [await scan(stack, tracking_no, s) for s in ("in_transit", "delivered")]
    async with asyncio.timeout(10):
        status = await polling
    await stack.ticket_when(opened.buyer, opened.ticket_no, "awaiting_inspection")
    await client.aclose()

    assert status.tracking_no == tracking_no
    assert [(e.event_id, e.status) for e in status.events] == [
        (f"sf:{s['event_id']}", s["status"]) for s in scans
    ]
    rows = await stored(stack, tracking_no=tracking_no)
    assert sorted(r.event_id for r in rows) == sorted(s["event_id"] for s in scans)
    assert {r.ticket_no for r in rows} == {opened.ticket_no}
    assert len(beats) >= 2
    timeline = (await read(stack, opened.buyer, opened.ticket_no)).json()["timeline"]
    assert [e["event"] for e in timeline].count("return_delivered") == 1


async def test_polling_waits_out_a_courier_outage_and_stops_when_cancelled(stack: Stack) -> None:
    activities, _ = tracker(stack, url=f"http://127.0.0.1:{free_port()}")
    query = c.ParcelQuery(ticket_no="T-NONE", carrier="sf", tracking_no="SF-NOWHERE")
    beats: list[Any] = []
    five_beats = asyncio.Event()

    def beat(*details: Any) -> None:
        beats.append(details)
        if len(beats) >= 5:
            five_beats.set()

    env = ActivityEnvironment()
    env.on_heartbeat = beat
    polling = asyncio.create_task(env.run(activities.track_parcel, query))
    async with asyncio.timeout(10):
        await five_beats.wait()
    assert not polling.done(), "an unreachable courier is waited out, not raised"
    env.cancel()

    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(5):
            await polling


async def test_asking_once_fails_the_attempt_until_the_parcel_arrives_naming_the_next_poll(
    stack: Stack,
) -> None:
    opened, tracking_no = await in_transit(stack)
    activities, client = tracker(stack)
    query = c.ParcelQuery(
        ticket_no=opened.ticket_no, carrier="SF", tracking_no=tracking_no, ask_once=True
    )
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=3)
    scans = [await scan(stack, tracking_no, "picked_up")]
    with pytest.raises(ApplicationError) as travelling:
        await env.run(activities.track_parcel, query)
    scans += [await scan(stack, tracking_no, s) for s in ("in_transit", "delivered")]
    status = await env.run(activities.track_parcel, query)
    await client.aclose()

    failure = travelling.value
    assert (failure.type, failure.non_retryable) == (c.PARCEL_TRAVELLING, False)
    # The third poll backs off to four times the first interval, and is no alarm.
    assert failure.next_retry_delay == timedelta(seconds=0.4)
    assert failure.category is ApplicationErrorCategory.BENIGN
    assert "delivered or lost yet" in failure.message
    assert [e.status for e in status.events] == ["picked_up", "in_transit", "delivered"]
    rows = await stored(stack, tracking_no=tracking_no)
    assert sorted(r.event_id for r in rows) == sorted(s["event_id"] for s in scans)


async def test_asking_once_an_unreachable_courier_is_asked_again_at_the_next_poll(
    stack: Stack,
) -> None:
    activities, _ = tracker(stack, url=f"http://127.0.0.1:{free_port()}")
    query = c.ParcelQuery(ticket_no="T-NONE", carrier="sf", tracking_no="SF-NOWHERE", ask_once=True)

    with pytest.raises(ApplicationError) as travelling:
        await ActivityEnvironment().run(activities.track_parcel, query)

    assert travelling.value.type == c.PARCEL_TRAVELLING
    assert travelling.value.next_retry_delay == timedelta(seconds=0.1)


async def test_polling_an_unknown_carrier_fails_at_once(stack: Stack) -> None:
    activities, client = tracker(stack)
    query = c.ParcelQuery(ticket_no="T-NONE", carrier="DHL", tracking_no="DH1234")

    with pytest.raises(Exception, match="no courier client") as raised:
        await ActivityEnvironment().run(activities.track_parcel, query)
    await client.aclose()

    assert getattr(raised.value, "non_retryable", False)
    assert await stored(stack, tracking_no="DH1234") == []
