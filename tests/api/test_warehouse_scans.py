"""Warehouse inbound scans over the real stack: what the scan answers, and the check-in."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence.models import WarehouseScan
from tests.support.stack import Stack
from tests.support.tickets import ALL_ACCEPTED, WAREHOUSE, Opened, act, read, to_state

OTHER_WAREHOUSE = "warehouse:wh-2002"


async def shipped_back(stack: Stack, *, type: str = "return_refund") -> tuple[Opened, str]:
    """A ticket in return_in_transit whose parcel has a tracking number of its own (the shared
    test parcel's number would name every such ticket of the session)."""
    opened = await to_state(stack, "awaiting_buyer_return", type=type)
    parcel = {"carrier": "SF", "tracking_no": f"SF-{uuid.uuid4().hex[:12].upper()}"}
    shipped = await act(stack, opened.buyer, opened.ticket_no, "return-shipment", parcel)
    assert shipped.status_code == 200, shipped.text
    assert shipped.json()["status"] == "return_in_transit"
    detail = (await read(stack, WAREHOUSE, opened.ticket_no)).json()
    [tracking_no] = [s["tracking_no"] for s in detail["shipments"] if s["direction"] == "return"]
    return opened, tracking_no


async def scan(stack: Stack, code: str, label: str | None = WAREHOUSE) -> httpx.Response:
    async with stack.client(label) as http:
        return await http.post("/v1/warehouse/scans", json={"code": code})


async def answer(stack: Stack, code: str, label: str = WAREHOUSE) -> dict[str, Any]:
    response = await scan(stack, code, label)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def stored(sessions: async_sessionmaker[AsyncSession], scan_id: int) -> WarehouseScan:
    async with sessions() as session:
        row = await session.scalar(select(WarehouseScan).where(WarehouseScan.scan_id == scan_id))
    assert row is not None
    return row


async def test_a_scan_of_the_tracking_number_checks_the_parcel_in(
    stack: Stack, sessions: async_sessionmaker[AsyncSession]
) -> None:
    opened, tracking_no = await shipped_back(stack)

    body = await answer(stack, tracking_no)

    assert body["outcome"] == "inspect"
    assert body["message"] == f"inspect for ticket {opened.ticket_no} (checked in now)"
    assert body["checked_in"] is True
    ticket = body["ticket"]
    assert ticket["ticket_no"] == opened.ticket_no
    assert (ticket["type"], ticket["status"]) == ("return_refund", "return_in_transit")
    assert ticket["buyer_id"] == opened.buyer.split(":")[1]
    assert ticket["merchant_id"] == "m-1001"
    assert ticket["tracking_no"] == tracking_no
    assert ticket["lines"] == [
        {"line_id": "L1", "title": "Item L1", "sku": "SKU-L1", "quantity": 2},
        {"line_id": "L2", "title": "Item L2", "sku": "SKU-L2", "quantity": 1},
    ]
    detail = await stack.ticket_when(WAREHOUSE, opened.ticket_no, "awaiting_inspection")
    arrival = detail["timeline"][-1]
    assert arrival["event"] == "return_delivered"
    assert arrival["data"]["event_id"] == f"scan:{body['scan_id']}"
    assert detail["deadline_at"] is not None
    row = await stored(sessions, body["scan_id"])
    assert (row.warehouse_id, row.code, row.ticket_no, row.outcome) == (
        "wh-1001",
        tracking_no,
        opened.ticket_no,
        "inspect",
    )


async def test_the_ticket_number_on_the_slip_finds_the_ticket_too(stack: Stack) -> None:
    opened = await to_state(stack, "return_in_transit", type="exchange")

    body = await answer(stack, f"  {opened.ticket_no.lower()} ")

    assert body["outcome"] == "inspect"
    assert body["ticket"]["ticket_no"] == opened.ticket_no
    assert body["ticket"]["type"] == "exchange"
    await stack.ticket_when(WAREHOUSE, opened.ticket_no, "awaiting_inspection")


async def test_a_second_scan_still_says_inspect_until_the_inspection_is_recorded(
    stack: Stack, sessions: async_sessionmaker[AsyncSession]
) -> None:
    opened, tracking_no = await shipped_back(stack)
    first = await answer(stack, tracking_no)
    await stack.ticket_when(WAREHOUSE, opened.ticket_no, "awaiting_inspection")

    second = await answer(stack, tracking_no)
    assert second["outcome"] == "inspect"
    assert second["checked_in"] is False
    assert second["message"] == f"inspect for ticket {opened.ticket_no}"
    assert second["ticket"]["status"] == "awaiting_inspection"
    assert second["scan_id"] > first["scan_id"]

    inspected = await act(stack, WAREHOUSE, opened.ticket_no, "inspection", {"lines": ALL_ACCEPTED})
    assert inspected.status_code == 200, inspected.text

    third = await answer(stack, tracking_no)
    assert third["outcome"] == "already_received"
    assert "has been inspected" in third["message"]
    assert third["ticket"]["ticket_no"] == opened.ticket_no
    assert (await stored(sessions, third["scan_id"])).outcome == "already_received"


async def test_a_reused_tracking_number_names_the_ticket_still_waiting_for_goods(
    stack: Stack,
) -> None:
    done, tracking_no = await shipped_back(stack)
    await answer(stack, tracking_no)
    await stack.ticket_when(WAREHOUSE, done.ticket_no, "awaiting_inspection")
    inspected = await act(stack, WAREHOUSE, done.ticket_no, "inspection", {"lines": ALL_ACCEPTED})
    assert inspected.status_code == 200, inspected.text
    waiting = await to_state(stack, "awaiting_buyer_return")
    parcel = {"carrier": "SF", "tracking_no": tracking_no}
    shipped = await act(stack, waiting.buyer, waiting.ticket_no, "return-shipment", parcel)
    assert shipped.status_code == 200, shipped.text

    body = await answer(stack, tracking_no)

    assert (body["outcome"], body["ticket"]["ticket_no"]) == ("inspect", waiting.ticket_no)


async def test_a_parcel_of_a_cancelled_ticket_goes_back_to_the_sender(stack: Stack) -> None:
    opened = await to_state(stack, "awaiting_buyer_return")
    cancelled = await act(stack, opened.buyer, opened.ticket_no, "cancel", {})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"

    body = await answer(stack, opened.ticket_no)

    assert body["outcome"] == "return_to_sender"
    assert body["message"] == f"ticket {opened.ticket_no} is cancelled: return to sender"
    assert body["checked_in"] is False
    assert body["ticket"]["status"] == "cancelled"


async def test_an_unknown_code_is_an_unknown_parcel_and_still_recorded(
    stack: Stack, sessions: async_sessionmaker[AsyncSession]
) -> None:
    code = f"ZZ-{uuid.uuid4().hex[:10]}"

    body = await answer(stack, code)

    assert body["outcome"] == "unknown_parcel"
    assert body["ticket"] is None
    assert code in body["message"]
    row = await stored(sessions, body["scan_id"])
    assert (row.warehouse_id, row.code, row.ticket_no, row.outcome) == (
        "wh-1001",
        code,
        None,
        "unknown_parcel",
    )


async def test_another_warehouse_learns_nothing_of_the_parcel(stack: Stack) -> None:
    opened, tracking_no = await shipped_back(stack)

    by_parcel = await answer(stack, tracking_no, OTHER_WAREHOUSE)
    by_ticket = await answer(stack, opened.ticket_no, OTHER_WAREHOUSE)

    # Word for word what a code nobody knows gets: nothing tells that the parcel exists.
    for code, body in ((tracking_no, by_parcel), (opened.ticket_no, by_ticket)):
        assert body["outcome"] == "unknown_parcel"
        assert body["ticket"] is None
        assert body["checked_in"] is False
        assert body["message"] == (
            f"unknown parcel: no return to this warehouse matches {code}; set it aside"
        )
    detail = (await read(stack, WAREHOUSE, opened.ticket_no)).json()
    assert detail["status"] == "return_in_transit"


async def test_only_a_warehouse_may_scan(stack: Stack) -> None:
    buyer = await stack.new_buyer()
    for label in (buyer, "merchant:m-1001", "support:s-1"):
        refused = await scan(stack, "SF-10001", label)
        assert refused.status_code == 403, label
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "forbidden_role"
    anonymous = await scan(stack, "SF-10001", None)
    assert anonymous.status_code == 401
    async with stack.client(WAREHOUSE) as http:
        empty = await http.post("/v1/warehouse/scans", json={"code": "   "})
    assert empty.status_code == 422
    assert empty.json()["code"] == "validation_error"


async def test_the_station_page_is_served_without_outside_assets(stack: Stack) -> None:
    async with stack.client(None) as http:
        page = await http.get("/warehouse/station")
        script = await http.get("/warehouse/static/station.js")
        missing = await http.get("/warehouse/static/..%2Fapp.py")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert 'aria-live="assertive"' in page.text
    assert "http://" not in page.text and "https://" not in page.text
    assert script.status_code == 200
    assert "/v1/warehouse/scans" in script.text
    assert missing.status_code == 404
