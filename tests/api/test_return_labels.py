"""Return labels over the real stack: on approval the sandbox courier issues a label, the buyer
downloads it as a PDF whose barcodes scan back to the parcel, and the courier's events on the
label's tracking number move the ticket with no `return-shipment`."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from tests.support.orders import buyer_id, line, order_body, put_order
from tests.support.pdf import pdf_text, scanned_codes
from tests.support.stack import Stack
from tests.support.tickets import labelled, recently

MERCHANT, WAREHOUSE, PLATFORM = "merchant:m-1001", "warehouse:wh-1001", "platform:shop"
ADDRESS = "上海市浦东新区世纪大道 100 号 5801 室"


async def approved_return(
    stack: Stack, *, address: str | None = ADDRESS, type_: str = "return_refund"
) -> tuple[str, str]:
    """A delivered order's return, approved by the merchant: (buyer label, ticket number)."""
    buyer = await stack.new_buyer(locale="en")
    order_id = f"RL-{uuid.uuid4().hex[:10].upper()}"
    body = order_body(
        [line("L1", 2, 15900, 1000)],
        buyer=buyer_id(buyer),
        status="delivered",
        delivered_at=recently(),
    )
    if address is not None:
        body["shipping_address"] = address
    async with stack.client(PLATFORM) as platform:
        await put_order(platform, order_id, body)
    reason = "wrong_size_or_model" if type_ == "exchange" else "no_longer_needed"
    async with stack.client(buyer) as as_buyer:
        opened = await as_buyer.post(
            "/v1/tickets",
            json={
                "order_id": order_id,
                "type": type_,
                "lines": [{"line_id": "L1", "quantity": 2}],
                "reason_code": reason,
            },
        )
        assert opened.status_code == 201, opened.text
    ticket_no: str = opened.json()["ticket_no"]
    await stack.ticket_when(buyer, ticket_no, "awaiting_merchant_review")
    async with stack.client(MERCHANT) as merchant:
        approved = await merchant.post(f"/v1/tickets/{ticket_no}/approve", json={})
    assert approved.status_code == 200, approved.text
    return buyer, ticket_no


async def scan(stack: Stack, tracking_no: str, status: str) -> None:
    """The courier scans the label's parcel; no carrier is named: the label's is used."""
    async with stack.courier() as courier:
        response = await courier.post(
            f"/control/parcels/{tracking_no}/events", json={"status": status}
        )
    assert response.status_code == 201, response.text


async def test_an_approved_return_gets_a_label_whose_parcel_moves_the_ticket(
    stack: Stack, tmp_path: Path
) -> None:
    buyer, ticket_no = await approved_return(stack)
    ticket = await labelled(stack, buyer, ticket_no)
    label = ticket["return_label"]
    assert label is not None and label["carrier"] == "sf"
    assert label["tracking_no"].startswith("SF") and label["dropoff_code"].startswith("DROP-")
    assert label["url"] == f"/v1/tickets/{ticket_no}/return-label"
    issued = next(s for s in ticket["timeline"] if s["event"] == "return_label_issued")
    assert issued["to_status"] == "awaiting_buyer_return"
    assert label["tracking_no"] in issued["reason"]

    async with stack.client(buyer) as as_buyer:
        pdf = await as_buyer.get(label["url"])
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    path = tmp_path / "label.pdf"
    path.write_bytes(pdf.content)
    codes = scanned_codes(path)
    assert codes == {"CODE-128": label["tracking_no"], "QR-Code": label["dropoff_code"]}
    text = pdf_text(path)
    assert ticket_no in text and "世纪大道" in text and "SKU-L1" in text
    # To the shop's returns warehouse, by its name and address.
    assert "Lotus Tea House" in text and "18 Wenyi Rd" in text

    # The buyer hands the parcel over: the courier's scans alone ship and deliver the return.
    await scan(stack, label["tracking_no"], "picked_up")
    shipped = await stack.ticket_when(buyer, ticket_no, "return_in_transit")
    assert shipped["shipments"][0]["tracking_no"] == label["tracking_no"]
    await scan(stack, label["tracking_no"], "delivered")
    delivered = await stack.ticket_when(buyer, ticket_no, "awaiting_inspection")
    events = [step["event"] for step in delivered["timeline"]]
    assert events == [
        "submitted_for_review",
        "approved_by_merchant",
        "return_label_issued",
        "return_shipped",
        "return_delivered",
    ]
    assert "return-shipment" not in delivered["allowed_actions"]


async def test_the_label_is_for_those_who_see_the_parcel(stack: Stack) -> None:
    buyer, ticket_no = await approved_return(stack)
    await labelled(stack, buyer, ticket_no)
    path = f"/v1/tickets/{ticket_no}/return-label"
    for reader in (MERCHANT, WAREHOUSE, "support:s-1"):
        async with stack.client(reader) as http:
            answer = await http.get(path)
        assert answer.status_code == 200, (reader, answer.text)
        assert answer.content.startswith(b"%PDF-")
    other = await stack.new_buyer()
    async with stack.client(other) as stranger:
        foreign = await stranger.get(path)
    assert foreign.status_code == 404 and foreign.json()["code"] == "ticket_not_found"
    async with stack.client(PLATFORM) as platform:
        refused = await platform.get(path)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden_role"


async def test_an_order_without_an_address_gets_no_label_and_the_buyer_types_the_number(
    stack: Stack,
) -> None:
    buyer, ticket_no = await approved_return(stack, address=None)
    ticket = await labelled(stack, buyer, ticket_no)
    assert ticket["return_label"] is None
    failed = next(s for s in ticket["timeline"] if s["event"] == "return_label_failed")
    assert "no delivery address" in failed["reason"]
    async with stack.client(buyer) as as_buyer:
        missing = await as_buyer.get(f"/v1/tickets/{ticket_no}/return-label")
        assert missing.status_code == 404
        assert missing.json()["code"] == "return_label_not_found"
        shipped = await as_buyer.post(
            f"/v1/tickets/{ticket_no}/return-shipment",
            json={"carrier": "SF", "tracking_no": f"SF{uuid.uuid4().hex[:10].upper()}"},
        )
    assert shipped.status_code == 200 and shipped.json()["status"] == "return_in_transit"


async def test_a_buyer_may_ship_at_once_after_approval(stack: Stack) -> None:
    """The label is asked for while the inbox stays open: shipping right away is never refused
    as an action in progress."""
    for _ in range(5):
        buyer, ticket_no = await approved_return(stack)
        async with stack.client(buyer) as as_buyer:
            shipped = await as_buyer.post(
                f"/v1/tickets/{ticket_no}/return-shipment",
                json={"carrier": "SF", "tracking_no": f"SF{uuid.uuid4().hex[:10].upper()}"},
            )
        assert shipped.status_code == 200, shipped.text


async def test_a_courier_outage_delays_the_label_but_issues_one(stack: Stack) -> None:
    async with stack.courier() as courier:
        down = await courier.post("/control/labels/outage", json={"requests": 1})
        assert down.status_code == 200, down.text
    buyer, ticket_no = await approved_return(stack, type_="exchange")
    ticket = await labelled(stack, buyer, ticket_no)
    assert ticket["return_label"] is not None
    async with stack.courier() as courier:
        labels = await courier.get(f"/v1/labels/{_label_id(ticket)}")
    assert labels.status_code == 200 and labels.json()["reference"] == ticket_no


def _label_id(ticket: dict[str, Any]) -> str:
    issued = next(s for s in ticket["timeline"] if s["event"] == "return_label_issued")
    return str(issued["data"]["label_id"])
