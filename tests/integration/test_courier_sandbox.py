"""The sandbox courier over real HTTP: parcels and their events, through the SandboxCourierClient
adapter, and signed webhooks redelivered until a receiver takes them.

Each test runs the courier with uvicorn on a free local port, and a small webhook receiver that
records what the courier POSTs to it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from adapters.couriers.port import CourierUnavailable
from adapters.couriers.sandbox import SandboxCourierClient, parse_webhook
from adapters.couriers.signing import SIGNATURE_HEADER, verify
from sandbox.courier import CourierConfig, create_app
from tests.support.servers import free_port, serving

API_KEY = "ck_test_courier"
SECRET = "whsec_test_courier"


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def event(self) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(self.body)["events"][0]
        return event


class Receiver:
    """Answers 500 to the first `failures_left` deliveries, 204 afterwards."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.failures_left = 0
        self.url = ""
        self._arrived = asyncio.Event()
        self.app = FastAPI()
        self.app.add_api_route("/hooks/{carrier}", self._receive, methods=["POST"])

    async def _receive(self, request: Request) -> Response:
        status = 500 if self.failures_left > 0 else 204
        self.failures_left -= 1 if status == 500 else 0
        delivery = Delivery(request.url.path, dict(request.headers), await request.body(), status)
        self.deliveries.append(delivery)
        self._arrived.set()
        return Response(status_code=status)

    async def wait_until(self, check: Callable[[], bool], seconds: float = 10.0) -> None:
        async with asyncio.timeout(seconds):
            while not check():
                self._arrived.clear()
                await self._arrived.wait()

    def accepted(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.answered == 204]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    async with serving(receiver.app) as url:
        receiver.url = f"{url}/hooks/{{carrier}}"
        yield receiver


@dataclass
class Courier:
    url: str
    http: httpx.AsyncClient
    client: SandboxCourierClient

    async def scan(self, tracking_no: str, status: str, **extra: Any) -> dict[str, Any]:
        response = await self.http.post(
            f"/control/parcels/{tracking_no}/events", json={"status": status, **extra}
        )
        assert response.status_code == 201, response.text
        event: dict[str, Any] = response.json()
        return event


@asynccontextmanager
async def running_courier(tmp_path: Path, webhook_url: str | None) -> AsyncIterator[Courier]:
    app = create_app(
        CourierConfig(
            db_path=tmp_path / "courier.sqlite3",
            api_key=API_KEY,
            webhook_url=webhook_url,
            webhook_secret=SECRET,
            webhook_backoff_initial=0.1,
            webhook_backoff_cap=0.4,
            autopilot_delays=(0.1, 0.1, 0.1),
        )
    )
    async with (
        serving(app) as url,
        httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {API_KEY}"}) as http,
    ):
        client = SandboxCourierClient(url, API_KEY)
        yield Courier(url, http, client)
        await client.aclose()


async def test_a_parcel_tells_its_events_in_order_and_unknown_parcels_are_404(
    tmp_path: Path,
) -> None:
    async with running_courier(tmp_path, None) as courier:
        first = await courier.scan("SF1001", "picked_up", carrier="SF", location="Shenzhen")
        second = await courier.scan("SF1001", "in_transit", description="left Shenzhen hub")
        parcel = (await courier.http.get("/v1/parcels/SF1001")).json()
        unknown = await courier.http.get("/v1/parcels/NOPE-1")
        other_carrier = await courier.http.get("/v1/parcels/SF1001", params={"carrier": "yto"})
        anonymous = await httpx.AsyncClient(base_url=courier.url).get("/v1/parcels/SF1001")
        tracked = await courier.client.track("sf", "SF1001")
        not_yet = await courier.client.track("sf", "NOPE-1")

    assert parcel["carrier"] == "sf" and parcel["status"] == "in_transit"
    assert [e["event_id"] for e in parcel["events"]] == [first["event_id"], second["event_id"]]
    assert parcel["events"][0]["location"] == "Shenzhen"
    assert parcel["events"][1]["description"] == "left Shenzhen hub"
    assert set(parcel["events"][0]) == {
        "event_id",
        "tracking_no",
        "status",
        "description",
        "location",
        "occurred_at",
    }
    assert (unknown.status_code, unknown.json()["code"]) == (404, "parcel_not_found")
    assert other_carrier.status_code == 404
    assert anonymous.status_code == 401
    assert [(e.carrier, e.event_id, e.status) for e in tracked] == [
        ("sf", first["event_id"], "picked_up"),
        ("sf", second["event_id"], "in_transit"),
    ]
    assert not_yet == []


async def test_a_delivered_or_lost_parcel_takes_no_more_scans(tmp_path: Path) -> None:
    async with running_courier(tmp_path, None) as courier:
        await courier.scan("YT2002", "lost", carrier="yto")
        late = await courier.http.post(
            "/control/parcels/YT2002/events", json={"status": "delivered"}
        )
        wrong_carrier = await courier.http.post(
            "/control/parcels/ZZ1/events", json={"status": "picked_up", "carrier": "dhl"}
        )
        bad_status = await courier.http.post(
            "/control/parcels/ZZ1/events", json={"status": "teleported"}
        )

    assert (late.status_code, late.json()["code"]) == (409, "parcel_closed")
    assert (wrong_carrier.status_code, wrong_carrier.json()["code"]) == (422, "unknown_carrier")
    assert bad_status.status_code == 422


async def test_webhooks_are_signed_and_redelivered_with_the_same_event_until_taken(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.failures_left = 2
    async with running_courier(tmp_path, receiver.url) as courier:
        event = await courier.scan("JD3003", "delivered", carrier="jd", location="Warehouse 1001")
        await receiver.wait_until(lambda: bool(receiver.accepted()))
        deliveries = (await courier.http.get("/control/parcels/JD3003/deliveries")).json()

    attempts = receiver.deliveries
    assert [d.answered for d in attempts] == [500, 500, 204]
    assert {d.body for d in attempts} == {attempts[0].body}, "redeliveries send the same body"
    assert {d.path for d in attempts} == {"/hooks/jd"}
    for delivery in attempts:
        verify(
            SECRET, delivery.headers[SIGNATURE_HEADER.lower()], delivery.body, int(time.time()), 60
        )
    carrier, events = parse_webhook(attempts[-1].body)
    assert carrier == "jd"
    assert [(e.event_id, e.tracking_no, e.status, e.location) for e in events] == [
        (event["event_id"], "JD3003", "delivered", "Warehouse 1001")
    ]
    assert deliveries[0]["attempts"] == 3 and deliveries[0]["delivered_at"] is not None


async def test_autopilot_moves_a_parcel_to_delivered_and_reports_each_step_in_order(
    tmp_path: Path, receiver: Receiver
) -> None:
    async with running_courier(tmp_path, receiver.url) as courier:
        planned = await courier.http.post(
            "/control/parcels/ZT4004/autopilot", json={"carrier": "zto", "delays": [0.1, 0.1, 0.1]}
        )
        await receiver.wait_until(lambda: len(receiver.accepted()) == 3)
        parcel = (await courier.http.get("/v1/parcels/ZT4004")).json()

    assert planned.status_code == 202
    assert [d.event["status"] for d in receiver.accepted()] == [
        "picked_up",
        "in_transit",
        "delivered",
    ]
    assert parcel["status"] == "delivered"
    assert [e["event_id"] for e in parcel["events"]] == [
        d.event["event_id"] for d in receiver.accepted()
    ]


async def test_pending_webhooks_survive_a_restart_of_the_courier(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.failures_left = 1_000
    async with running_courier(tmp_path, receiver.url) as courier:
        event = await courier.scan("EM5005", "picked_up", carrier="ems")
        await receiver.wait_until(lambda: len(receiver.deliveries) >= 1)
    receiver.failures_left = 0
    async with running_courier(tmp_path, receiver.url):
        await receiver.wait_until(lambda: bool(receiver.accepted()))

    assert receiver.accepted()[0].event["event_id"] == event["event_id"]


async def test_an_unreachable_courier_is_reported_as_unavailable() -> None:
    client = SandboxCourierClient(f"http://127.0.0.1:{free_port()}", API_KEY, timeout=2)
    with pytest.raises(CourierUnavailable):
        await client.track("sf", "SF1")
    await client.aclose()
