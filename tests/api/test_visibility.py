"""Who sees what (SPEC §8): every part of a ticket, of the ticket list and of an order, read by
each role's key on one ticket where every part is filled, against the table of api.visibility
(the table itself: tests/unit/test_visibility_table.py)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from api.auth import Role
from api.schemas.tickets import TicketSummary
from api.visibility import (
    ORDER_READERS,
    TICKET_FIELDS,
    TicketPart,
    sees,
    sees_data,
)
from tests.support.orders import buyer_id, new_order_id, order_body, put_order
from tests.support.stack import Stack
from tests.support.tickets import (
    ALL_ACCEPTED,
    ASKED,
    LINES,
    MERCHANT,
    QUOTED,
    SUPPORT,
    WAREHOUSE,
    act,
    labelled,
    recently,
)

PLATFORM = "platform:shop"
IBAN = "DE89370400440532013000"
ACCOUNT = {"holder_name": "Anna Schmidt", "iban": IBAN}
WATCHED_FOR = "resells refunded goods"
# What the risk assessment says of a watched buyer, in the workflow's words.
RISK_WORDS = ("watchlist", "buyer risk", WATCHED_FOR)
# Visible fields that are empty once a ticket is done, or that are numbers and flags.
# `exchange`: only an exchange for another item has one.
MAY_BE_EMPTY = {"next_actor", "deadline_at", "on_timeout", "allowed_actions", "exchange"}


@dataclass(frozen=True)
class Views:
    ticket_no: str
    order_id: str
    buyer: str  # the client label of the ticket's buyer
    email: str
    # client label -> the role whose table row applies
    roles: dict[str, Role]


def _labels(buyer: str) -> dict[str, Role]:
    return {
        buyer: Role.buyer,
        MERCHANT: Role.merchant,
        WAREHOUSE: Role.warehouse,
        SUPPORT: Role.support,
        PLATFORM: Role.platform,
    }


async def _watched_buyer(stack: Stack) -> tuple[str, str]:
    """A buyer support watches, so the workflow writes risk into its reasons and deadlines."""
    email = f"{uuid.uuid4().hex[:8]}@buyers.example"
    label = await stack.new_buyer(email=email)
    async with stack.client(SUPPORT) as support:
        watched = await support.put(
            f"/v1/watchlist/{buyer_id(label)}", json={"reason": WATCHED_FOR}
        )
    assert watched.status_code == 200, watched.text
    return label, email


async def _opened(stack: Stack, label: str, **extra: Any) -> tuple[str, str]:
    order_id = new_order_id("VIS")
    order = order_body(LINES, buyer=buyer_id(label), status="delivered", delivered_at=recently())
    order["shipping_address"] = "8 Visibility Lane, Hangzhou"  # the sender of its return label
    application = {
        "order_id": order_id,
        "type": "return_refund",
        "lines": [{"line_id": line_id, "quantity": qty} for line_id, qty in ASKED],
        "reason_code": "no_longer_needed",
        "description": "the seam is torn",
        "evidence": ["https://evidence.example/seam.jpg"],
        **extra,
    }
    async with stack.client(PLATFORM) as platform, stack.client(label) as buyer:
        await put_order(platform, order_id, order)
        created = await buyer.post("/v1/tickets", json=application)
    assert created.status_code == 201, created.text
    ticket_no = str(created.json()["ticket_no"])
    await stack.ticket_when(SUPPORT, ticket_no, "awaiting_merchant_review")
    return ticket_no, order_id


@pytest.fixture(scope="module")
async def full(stack: Stack) -> Views:
    """A completed return with every part filled: evidence, risk, a message, a return parcel with
    a tracking event, an inspection, and a refund by bank transfer."""
    label, email = await _watched_buyer(stack)
    ticket_no, order_id = await _opened(
        stack,
        label,
        requested_amount=QUOTED,
        destination="bank_transfer",
        bank_account=ACCOUNT,
    )
    async with stack.client(label) as buyer:
        said = await buyer.post(f"/v1/tickets/{ticket_no}/messages", json={"body": "torn seam"})
    assert said.status_code == 201, said.text
    approved = await act(stack, MERCHANT, ticket_no, "approve", {"warehouse_id": "wh-1001"})
    assert approved.status_code == 200, approved.text
    # The courier's label is issued before the buyer ships (another way: a typed number).
    assert (await labelled(stack, label, ticket_no))["return_label"] is not None
    tracking_no = f"SF{uuid.uuid4().hex[:10].upper()}"
    parcel = {"carrier": "SF", "tracking_no": tracking_no}
    shipped = await act(stack, label, ticket_no, "return-shipment", parcel)
    assert shipped.status_code == 200, shipped.text
    async with stack.courier() as courier:
        scanned = await courier.post(
            f"/control/parcels/{tracking_no}/events", json={"status": "picked_up", "carrier": "sf"}
        )
    assert scanned.status_code == 201, scanned.text
    await _tracked(stack, ticket_no)
    inspected = await act(
        stack, WAREHOUSE, ticket_no, "inspection", {"lines": ALL_ACCEPTED, "note": "as new"}
    )
    assert inspected.status_code == 200, inspected.text
    done = await stack.ticket_when(SUPPORT, ticket_no, "completed")
    assert done["refunds"] and done["refunds"][-1]["status"] == "succeeded", done["refunds"]
    return Views(ticket_no, order_id, label, email, _labels(label))


@pytest.fixture(scope="module")
async def waiting(stack: Stack) -> Views:
    """A watched buyer's ticket waiting for the merchant: its deadline's outcome names the risk."""
    label, email = await _watched_buyer(stack)
    ticket_no, order_id = await _opened(stack, label)
    return Views(ticket_no, order_id, label, email, _labels(label))


async def _tracked(stack: Stack, ticket_no: str) -> None:
    for _ in range(300):
        async with stack.client(SUPPORT) as support:
            ticket = (await support.get(f"/v1/tickets/{ticket_no}")).json()
        if ticket["tracking_events"]:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no tracking event reached {ticket_no}")


async def _get(stack: Stack, label: str, path: str, **params: Any) -> dict[str, Any]:
    async with stack.client(label) as http:
        response = await http.get(path, params=params)
    assert response.status_code == 200, (label, path, response.text)
    body: dict[str, Any] = response.json()
    return body


# --- each role's answers --------------------------------------------------------------------


def _assert_follows_the_table(role: Role, ticket: dict[str, Any]) -> None:
    assert set(ticket) == set(TICKET_FIELDS)
    for field, part in TICKET_FIELDS.items():
        value = ticket[field]
        if not sees(role, part):
            assert value is None, (role, field, value)
        elif field not in MAY_BE_EMPTY and not isinstance(value, bool | int):
            assert value, (role, field, value)


async def test_each_role_sees_of_a_full_ticket_exactly_the_parts_of_the_table(
    stack: Stack, full: Views
) -> None:
    for label, role in full.roles.items():
        ticket = await _get(stack, label, f"/v1/tickets/{full.ticket_no}")
        _assert_follows_the_table(role, ticket)
        text = str(ticket)
        assert IBAN not in text and full.email not in text
        # Nested parts follow the table too.
        for refund in ticket["refunds"] or []:
            expected = ticket["destination_details"]
            assert refund["destination_details"] == expected, role
        for step in ticket["timeline"] or []:
            assert all(sees_data(role, key) for key in step["data"]), (role, step)
        if sees(role, TicketPart.risk):
            assert ticket["risk"]["level"] == "high"
            assert any(WATCHED_FOR in step["reason"] for step in ticket["timeline"])
            assert any("risk" in step["data"] for step in ticket["timeline"])
        else:
            for word in RISK_WORDS:
                assert word not in text, (role, word)
        if sees(role, TicketPart.destination_details):
            assert ticket["destination_details"] == {
                "holder_name": "Anna Schmidt",
                "iban": "DE89 **** **** **** 3000",
            }


async def test_the_warehouse_and_the_platform_read_no_messages_risk_or_bank_details(
    stack: Stack, full: Views
) -> None:
    warehouse = await _get(stack, WAREHOUSE, f"/v1/tickets/{full.ticket_no}")
    platform = await _get(stack, PLATFORM, f"/v1/tickets/{full.ticket_no}")
    buyer = await _get(stack, full.buyer, f"/v1/tickets/{full.ticket_no}")

    assert [m["body"] for m in buyer["messages"]] == ["torn seam"]
    for seen in (warehouse, platform):
        assert seen["messages"] is None and seen["risk"] is None
        assert seen["destination_details"] is None
    assert warehouse["refunds"] is None and warehouse["destination"] is None
    assert warehouse["inspection"]["passed"] is True and warehouse["shipments"]
    assert platform["evidence"] is None and platform["description"] is None
    assert platform["timeline"] is None and platform["shipments"] is None
    assert [r["status"] for r in platform["refunds"]] == ["succeeded"]
    assert platform["refunds"][0]["destination_details"] is None
    assert (platform["status"], platform["order_id"]) == ("completed", full.order_id)
    assert platform["refunded_amount"] == QUOTED


async def test_the_ticket_list_shows_each_role_the_summary_of_the_table(
    stack: Stack, full: Views
) -> None:
    for label, role in full.roles.items():
        page = await _get(stack, label, "/v1/tickets", order_id=full.order_id)
        detail = await _get(stack, label, f"/v1/tickets/{full.ticket_no}")
        [item] = page["items"]

        assert set(item) == set(TicketSummary.model_fields)
        for field, value in item.items():
            expected = detail[field] if sees(role, TICKET_FIELDS[field]) else None
            assert value == expected, (role, field)


async def test_a_deadline_names_the_risk_only_to_those_who_see_risk(
    stack: Stack, waiting: Views
) -> None:
    for label, role in waiting.roles.items():
        async with stack.client(label) as http:
            detail = await http.get(f"/v1/tickets/{waiting.ticket_no}")
            page = await http.get("/v1/tickets", params={"order_id": waiting.order_id})
        if role is Role.warehouse:
            # Not its return (yet): no warehouse is named before the merchant approves.
            assert detail.status_code == 404 and page.json()["items"] == []
            continue
        [item] = page.json()["items"]
        ticket = detail.json()
        assert item["on_timeout"] == ticket["on_timeout"]
        assert ticket["on_timeout"].startswith("escalate to support instead of auto-approval")
        if sees(role, TicketPart.risk):
            assert "buyer on the watchlist" in ticket["on_timeout"]
            assert WATCHED_FOR in ticket["timeline"][-1]["reason"]
        else:
            for word in RISK_WORDS:
                assert word not in str(ticket) and word not in str(item), (role, word)
        if role is Role.buyer:
            assert ticket["timeline"][-1]["reason"].startswith("waiting for the merchant's review")


async def test_an_order_is_shown_whole_to_its_readers_and_to_nobody_else(
    stack: Stack, full: Views
) -> None:
    path = f"/v1/orders/{full.order_id}"
    for label, role in full.roles.items():
        async with stack.client(label) as http:
            response = await http.get(path)
        if role not in ORDER_READERS:
            assert response.status_code == 403, (role, response.text)
            assert response.json()["code"] == "forbidden_role"
            continue
        assert response.status_code == 200, (role, response.text)
        order = response.json()
        assert [x["line_id"] for x in order["lines"]] == ["L1", "L2"]
        assert order["payment"]["paid_total"] == QUOTED
        assert (order["refunded_total"], order["after_sales_status"]) == (QUOTED, "refunded")
        assert full.email not in str(order)
    for foreign in ("buyer:b-502", "merchant:m-2002"):
        async with stack.client(foreign) as http:
            response = await http.get(path)
        assert response.status_code == 404 and response.json()["code"] == "order_not_found"
