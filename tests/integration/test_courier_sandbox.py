"""The sandbox courier over real HTTP: parcels and their events, through the SandboxCourierClient
adapter, signed webhooks redelivered until a receiver takes them, and return labels issued once
per idempotency key, with their PDF document.

Each test runs the courier with uvicorn on a free local port, and a small webhook receiver that
records what the courier POSTs to it.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from subprocess import PIPE
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from adapters.couriers.port import CourierRefused, CourierUnavailable, LabelParty
from adapters.couriers.sandbox import SandboxCourierClient, parse_webhook
from adapters.couriers.signing import SIGNATURE_HEADER, verify
from sandbox.courier import CourierConfig, create_app
from tests.support.servers import free_port, serving

API_KEY = "ck_test_courier"
SECRET = "whsec_test_courier"

BUYER = {"name": "Li Wei", "address": "88 Nanshan Road, Shenzhen 518000"}
MERCHANT = {"name": "Returns desk", "address": "Warehouse 7, 12 Dock Street, Shanghai 200000"}
LABEL = {"carrier": "sf", "reference": "TK-1001", "sender": BUYER, "recipient": MERCHANT}
DROPOFF_CODE = re.compile(r"DROP-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}")


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

    async def post_label(self, key: str | None, body: dict[str, Any]) -> httpx.Response:
        headers = {} if key is None else {"Idempotency-Key": key}
        return await self.http.post("/v1/labels", json=body, headers=headers)

    async def outage(self, requests: int) -> None:
        response = await self.http.post("/control/labels/outage", json={"requests": requests})
        assert response.json() == {"requests": requests}, response.text


def labels_stored(tmp_path: Path) -> int:
    """Labels in the courier's own database, read beside the running courier."""
    with sqlite3.connect(tmp_path / "courier.sqlite3") as conn:
        return int(conn.execute("SELECT COUNT(*) FROM labels").fetchone()[0])


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


async def test_a_label_is_issued_once_per_idempotency_key(tmp_path: Path) -> None:
    async with running_courier(tmp_path, None) as courier:
        issued = await courier.post_label("lbl-1", LABEL)
        replayed = await courier.post_label("lbl-1", LABEL)
        stored_after_replay = labels_stored(tmp_path)
        # Leaving the carrier out names the default one: the same request.
        no_carrier = {name: value for name, value in LABEL.items() if name != "carrier"}
        default_carrier = await courier.post_label("lbl-1", no_carrier)
        through_client = await courier.client.create_label(
            "SF", "TK-1001", LabelParty(**BUYER), LabelParty(**MERCHANT), "lbl-1"
        )
        fetched = await courier.http.get(f"/v1/labels/{issued.json()['label_id']}")
        other_body = await courier.post_label("lbl-1", {**LABEL, "reference": "TK-1002"})
        other_key = await courier.post_label("lbl-2", LABEL)
        unknown_carrier = await courier.post_label("lbl-3", {**LABEL, "carrier": "dhl"})
        no_key = await courier.post_label(None, LABEL)
        extra_field = await courier.post_label("lbl-4", {**LABEL, "weight_kg": 2})
        empty_name = await courier.post_label("lbl-5", {**LABEL, "sender": {**BUYER, "name": ""}})
        unknown_label = await courier.http.get("/v1/labels/lb_nope")
        stored = labels_stored(tmp_path)

    label = issued.json()
    assert issued.status_code == 201, issued.text
    assert set(label) == {
        "object",
        "label_id",
        "carrier",
        "tracking_no",
        "dropoff_code",
        "reference",
        "sender",
        "recipient",
        "created_at",
        "document_url",
    }
    assert label["object"] == "label" and re.fullmatch(r"lb_[0-9a-f]+", label["label_id"])
    assert label["carrier"] == "sf" and re.fullmatch(r"SF[0-9]{12}", label["tracking_no"])
    assert DROPOFF_CODE.fullmatch(label["dropoff_code"])
    assert (label["reference"], label["sender"], label["recipient"]) == ("TK-1001", BUYER, MERCHANT)
    assert label["document_url"] == f"/v1/labels/{label['label_id']}/document"
    assert (replayed.status_code, replayed.json()) == (200, label)
    assert stored_after_replay == 1
    assert (default_carrier.status_code, default_carrier.json()) == (200, label)
    assert (through_client.label_id, through_client.tracking_no) == (
        label["label_id"],
        label["tracking_no"],
    )
    assert through_client.document_url == courier.url + label["document_url"]
    assert (fetched.status_code, fetched.json()) == (200, label)
    assert (other_body.status_code, other_body.json()["code"]) == (409, "idempotency_key_reused")
    assert other_key.status_code == 201
    assert other_key.json()["tracking_no"] != label["tracking_no"]
    assert other_key.json()["dropoff_code"] != label["dropoff_code"]
    assert (unknown_carrier.status_code, unknown_carrier.json()["code"]) == (
        422,
        "unknown_carrier",
    )
    assert (no_key.status_code, no_key.json()["code"]) == (400, "idempotency_key_required")
    assert extra_field.status_code == 422 and empty_name.status_code == 422
    assert (unknown_label.status_code, unknown_label.json()["code"]) == (404, "label_not_found")
    assert stored == 2


async def test_a_label_outage_answers_503_until_it_is_over_and_the_client_can_retry(
    tmp_path: Path,
) -> None:
    async with running_courier(tmp_path, None) as courier:
        await courier.outage(2)
        answers = [await courier.post_label("lbl-out", LABEL) for _ in range(3)]

        await courier.outage(2)
        failures: list[CourierUnavailable] = []
        while True:
            try:
                label = await courier.client.create_label(
                    "zto", "TK-2002", LabelParty(**BUYER), LabelParty(**MERCHANT), "lbl-retry"
                )
            except CourierUnavailable as exc:
                failures.append(exc)
                assert len(failures) <= 2, "the outage lasts two requests"
                continue
            break
        stored = labels_stored(tmp_path)

    assert [a.status_code for a in answers] == [503, 503, 201]
    assert {a.json()["code"] for a in answers[:2]} == {"courier_unavailable"}
    assert answers[0].headers["Retry-After"] == "1"
    assert len(failures) == 2 and "503" in str(failures[0])
    assert label.carrier == "zto" and re.fullmatch(r"ZTO[0-9]{12}", label.tracking_no)
    assert stored == 2, "a request answered 503 issues nothing"


async def test_a_refused_label_request_raises_courier_refused(tmp_path: Path) -> None:
    buyer, merchant = LabelParty(**BUYER), LabelParty(**MERCHANT)
    async with running_courier(tmp_path, None) as courier:
        with pytest.raises(CourierRefused) as unknown_carrier:
            await courier.client.create_label("dhl", "TK-3003", buyer, merchant, "lbl-dhl")
        await courier.client.create_label("sf", "TK-3003", buyer, merchant, "lbl-once")
        with pytest.raises(CourierRefused) as reused:
            await courier.client.create_label("sf", "TK-3004", buyer, merchant, "lbl-once")
        with pytest.raises(CourierRefused) as invalid:
            await courier.client.create_label("sf", "", buyer, merchant, "lbl-empty")

    assert unknown_carrier.value.code == "unknown_carrier"
    assert "dhl" in unknown_carrier.value.message
    assert reused.value.code == "idempotency_key_reused"
    assert invalid.value.code == "invalid_request"


async def test_the_label_document_is_a_pdf_showing_carrier_tracking_number_and_dropoff_code(
    tmp_path: Path,
) -> None:
    async with running_courier(tmp_path, None) as courier:
        label = await courier.client.create_label(
            "jd", "TK-4004", LabelParty(**BUYER), LabelParty(**MERCHANT), "lbl-doc"
        )
        assert label.document_url is not None
        document = await courier.http.get(label.document_url)
        async with httpx.AsyncClient() as anonymous_http:
            anonymous = await anonymous_http.get(label.document_url)
        unknown = await courier.http.get("/v1/labels/lb_nope/document")

    assert document.status_code == 200
    assert document.headers["content-type"] == "application/pdf"
    assert document.content.startswith(b"%PDF-")
    assert document.content.rstrip().endswith(b"%%EOF")
    if shutil.which("pdftotext"):
        reader = await asyncio.create_subprocess_exec(
            "pdftotext", "-", "-", stdin=PIPE, stdout=PIPE, stderr=PIPE
        )
        out, err = await reader.communicate(document.content)
        assert reader.returncode == 0 and not err, err
        shown = out.decode()
    else:
        shown = document.content.decode("latin-1")
    assert label.tracking_no in shown and label.dropoff_code in shown
    assert "JD RETURN LABEL" in shown and "TK-4004" in shown
    assert anonymous.status_code == 401
    assert (unknown.status_code, unknown.json()["code"]) == (404, "label_not_found")


async def test_scans_of_a_label_tracking_number_go_to_the_label_carrier(
    tmp_path: Path, receiver: Receiver
) -> None:
    async with running_courier(tmp_path, receiver.url) as courier:
        label = await courier.client.create_label(
            "yto", "TK-5005", LabelParty(**BUYER), LabelParty(**MERCHANT), "lbl-scan"
        )
        other = await courier.client.create_label(
            "ems", "TK-5006", LabelParty(**BUYER), LabelParty(**MERCHANT), "lbl-other"
        )
        before_scan = await courier.client.track("yto", label.tracking_no)
        wrong_before = await courier.http.post(
            f"/control/parcels/{other.tracking_no}/events",
            json={"status": "picked_up", "carrier": "sf"},
        )
        picked_up = await courier.scan(label.tracking_no, "picked_up", location="Locker 12")
        delivered = await courier.scan(label.tracking_no, "delivered", carrier="YTO")
        wrong_after = await courier.http.post(
            f"/control/parcels/{label.tracking_no}/events", json={"status": "lost", "carrier": "sf"}
        )
        await receiver.wait_until(lambda: len(receiver.accepted()) == 2)
        parcel = (await courier.http.get(f"/v1/parcels/{label.tracking_no}")).json()
        tracked = await courier.client.track("yto", label.tracking_no)

    assert before_scan == []
    assert (wrong_before.status_code, wrong_before.json()["code"]) == (409, "carrier_mismatch")
    assert (wrong_after.status_code, wrong_after.json()["code"]) == (409, "carrier_mismatch")
    assert parcel["carrier"] == "yto" and parcel["status"] == "delivered"
    assert [(e.carrier, e.event_id, e.status, e.location) for e in tracked] == [
        ("yto", picked_up["event_id"], "picked_up", "Locker 12"),
        ("yto", delivered["event_id"], "delivered", None),
    ]
    assert {d.path for d in receiver.accepted()} == {"/hooks/yto"}


async def test_an_unreachable_courier_issues_no_label_and_is_reported_as_unavailable() -> None:
    client = SandboxCourierClient(f"http://127.0.0.1:{free_port()}", API_KEY, timeout=2)
    with pytest.raises(CourierUnavailable):
        await client.create_label(
            "sf", "TK-6006", LabelParty(**BUYER), LabelParty(**MERCHANT), "lbl-down"
        )
    await client.aclose()
