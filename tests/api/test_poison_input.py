"""Input the database cannot store, or numbers past what it holds, are refused at the edge with a
422 that names the field, and the ticket they were aimed at goes on working."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from adapters.payments.signing import SIGNATURE_HEADER, sign
from tests.support.orders import application, line, new_order_id, order_body, put_order
from tests.support.stack import WEBHOOK_SECRET, Stack
from tests.support.tickets import MERCHANT, SUPPORT, WAREHOUSE, act, open_for_review, read

NUL = "\x00"
LONE_SURROGATE = "\ud800"


def _refused(response: Any, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [error["field"] for error in response.json()["errors"]], response.json()


@pytest.mark.parametrize(
    ("who", "action", "body", "field"),
    [
        (MERCHANT, "reject", {"reason_code": "used", "note": f"bad{NUL}note"}, "note"),
        (MERCHANT, "escalate", {"reason": f"odd{NUL}"}, "reason"),
        ("buyer", "cancel", {"note": f"changed my mind{NUL}"}, "note"),
        (MERCHANT, "reject", {"reason_code": "used", "note": LONE_SURROGATE}, "note"),
    ],
)
async def test_an_action_with_unstorable_text_is_refused_and_the_ticket_goes_on(
    stack: Stack, who: str, action: str, body: dict[str, Any], field: str
) -> None:
    opened = await open_for_review(stack)
    actor = opened.buyer if who == "buyer" else who
    # Sent as JSON text: `\ud800` is a valid JSON escape that decodes to a lone surrogate.
    async with stack.client(actor) as http:
        refused = await http.post(
            f"/v1/tickets/{opened.ticket_no}/{action}",
            content=json.dumps(body),
            headers={"Content-Type": "application/json"},
        )
    _refused(refused, field)
    untouched = (await read(stack, opened.buyer, opened.ticket_no)).json()
    assert untouched["status"] == "awaiting_merchant_review"
    assert untouched["version"] == 1

    approved = await act(stack, MERCHANT, opened.ticket_no, "approve", {"note": "fine"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "awaiting_buyer_return"


@pytest.mark.parametrize(
    ("label", "method", "path", "body", "field"),
    [
        ("platform:shop", "PUT", "/v1/orders/{order}", "title", "lines[0].title"),
        ("buyer", "POST", "/v1/tickets", "description", "description"),
        ("buyer", "POST", "/v1/tickets/{ticket}/messages", "message", "body"),
        (SUPPORT, "PUT", "/v1/watchlist/{buyer}", "watch", "reason"),
        (WAREHOUSE, "POST", "/v1/warehouse/scans", "scan", "code"),
    ],
)
async def test_nul_in_any_stored_text_is_refused_with_the_field(
    stack: Stack, label: str, method: str, path: str, body: str, field: str
) -> None:
    opened = await open_for_review(stack)
    buyer = opened.buyer.split(":")[1]
    bodies: dict[str, Any] = {
        "title": order_body([{**line("L1", 1, 1000), "title": f"tea{NUL}"}], buyer=buyer),
        "description": {
            **application(opened.order_id, ("L1", 1)),
            "description": f"broken{NUL}",
        },
        "message": {"body": f"hello{NUL}"},
        "watch": {"reason": f"odd{NUL}"},
        "scan": {"code": f"SF{NUL}1"},
    }
    url = path.format(order=new_order_id(), ticket=opened.ticket_no, buyer=buyer)
    async with stack.client(opened.buyer if label == "buyer" else label) as http:
        response = await http.request(method, url, json=bodies[body])
    _refused(response, field)


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/v1/tickets/AS%00", "path"),
        ("/v1/tickets?order_id=%00", "order_id"),
        ("/v1/tickets?ticket_no=AS%00X", "ticket_no"),
        ("/v1/orders/O%00", "path"),
    ],
)
async def test_nul_in_a_path_or_a_query_is_refused(stack: Stack, url: str, field: str) -> None:
    async with stack.client(SUPPORT) as http:
        response = await http.get(url)
    _refused(response, field)
    assert response.json()["code"] == "invalid_text"


def _order_with(**changes: Any) -> dict[str, Any]:
    body = order_body([line("L1", 1, 1000)])
    for path, value in changes.items():
        target: Any = body
        *parents, last = path.split("__")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value
    return body


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"lines__0__quantity": 10**20}, "lines[0].quantity"),
        ({"lines__0__quantity": 2**31}, "lines[0].quantity"),
        ({"lines__0__unit_price": 10**19}, "lines[0].unit_price"),
        ({"shipping_fee": 2**63}, "shipping_fee"),
        ({"version": 2**31}, "version"),
        ({"payment__paid_total": 18446744073709552616}, "payment.paid_total"),
    ],
)
async def test_numbers_past_what_the_database_holds_are_refused(
    stack: Stack, changes: dict[str, Any], field: str
) -> None:
    async with stack.client("platform:shop") as platform:
        response = await platform.put(f"/v1/orders/{new_order_id()}", json=_order_with(**changes))
    _refused(response, field)


async def test_an_order_above_its_currencys_largest_amount_is_refused(stack: Stack) -> None:
    """4.6 x 10^18 fen once passed second approval and settled; CNY takes at most 10^9 yuan."""
    body = order_body([line("L1", 1, 4_600_000_000_000_000_000)])
    small_enough = order_body([line("L1", 1, 100_000_000_000)])
    async with stack.client("platform:shop") as platform:
        too_much = await platform.put(f"/v1/orders/{new_order_id()}", json=body)
        at_the_bound = await platform.put(f"/v1/orders/{new_order_id()}", json=small_enough)
    _refused(too_much, "lines[0].unit_price")
    assert at_the_bound.status_code == 201, at_the_bound.text

    above_cny = order_body([line("L1", 2, 100_000_000_000)])
    async with stack.client("platform:shop") as platform:
        over = await platform.put(f"/v1/orders/{new_order_id()}", json=above_cny)
    assert over.status_code == 422, over.text
    assert "largest CNY amount" in over.json()["detail"]


@pytest.mark.parametrize(
    "url",
    [
        "/v1/inbox?cursor=" + "9" * 20,
        "/v1/inbox/9223372036854775808/read",
        "/v1/tickets/{ticket}/messages?cursor=" + "9" * 20,
    ],
)
async def test_cursors_and_ids_past_64_bits_are_refused(stack: Stack, url: str) -> None:
    opened = await open_for_review(stack)
    method = "POST" if url.endswith("/read") else "GET"
    async with stack.client(opened.buyer) as http:
        response = await http.request(method, url.format(ticket=opened.ticket_no))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_ticket_body_with_an_unknown_field_or_a_zero_amount_is_refused(
    stack: Stack,
) -> None:
    buyer = await stack.new_buyer()
    order_id = new_order_id()
    async with stack.client("platform:shop") as platform:
        await put_order(platform, order_id, order_body([line("L1", 1, 1000)], buyer=buyer[6:]))
    async with stack.client(buyer) as http:
        unknown = await http.post(
            "/v1/tickets", json={**application(order_id, ("L1", 1)), "colour": "blue"}
        )
        zero = await http.post(
            "/v1/tickets", json={**application(order_id, ("L1", 1)), "requested_amount": 0}
        )
        listed = (await http.get("/v1/tickets", params={"order_id": order_id})).json()
    _refused(unknown, "colour")
    _refused(zero, "requested_amount")
    assert listed["items"] == []


async def test_a_policy_of_absurd_durations_is_refused_and_new_tickets_open(
    stack: Stack,
) -> None:
    merchant = "merchant:m-1001"
    async with stack.client(merchant) as shop:
        years = await shop.put(
            "/v1/merchants/m-1001/policy", json={"merchant_review": "P999999999D"}
        )
        overflow = await shop.put(
            "/v1/merchants/m-1001/policy", json={"merchant_review": "P99999999999D"}
        )
        reminders = await shop.put(
            "/v1/merchants/m-1001/policy", json={"review_reminders": ["P400D"]}
        )
    _refused(years, "merchant_review")
    _refused(overflow, "merchant_review")
    _refused(reminders, "review_reminders[0]")
    opened = await open_for_review(stack)
    assert (await read(stack, opened.buyer, opened.ticket_no)).json()["deadline_at"] is not None


@pytest.mark.parametrize(
    "header",
    [
        "t=" + "9" * 5000 + ",v1=aa",
        "t=1,v1=" + "a" * 5000,
        "t=\u00b2,v1=aa",
        "t=1,v1=\u00e9",
    ],
)
async def test_a_malformed_payment_signature_is_401_not_500(stack: Stack, header: str) -> None:
    async with stack.client(None) as http:
        response = await http.post(
            "/v1/webhooks/payments/sandbox",
            content=b"{}",
            headers={SIGNATURE_HEADER.encode(): header.encode("utf-8")},
        )
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "invalid_signature"


@pytest.mark.parametrize(
    "changes",
    [{"created": 10**20}, {"id": "evt_" + "x" * 10_000}, {"id": f"evt_{NUL}"}],
)
async def test_a_signed_payment_event_out_of_bounds_is_422(
    stack: Stack, changes: dict[str, Any]
) -> None:
    event = {
        "id": "evt_bounds",
        "type": "refund.succeeded",
        "created": int(time.time()),
        "data": {
            "object": "refund",
            "id": "re_bounds",
            "status": "succeeded",
            "amount": 100,
            "currency": "CNY",
            "idempotency_key": "k",
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        },
        **changes,
    }
    body = json.dumps(event).encode()
    async with stack.client(None) as http:
        response = await http.post(
            "/v1/webhooks/payments/sandbox",
            content=body,
            headers={SIGNATURE_HEADER: sign(WEBHOOK_SECRET, body, int(time.time()))},
        )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_event"


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/v1/tickets?created_to=0.5", "created_to"),
        ("/v1/tickets?created_from=2026-11-23", "created_from"),
        ("/v1/reports/summary?created_to=1700000000", "created_to"),
        ("/v1/tickets?created_from=0001-01-01T00:00:00%2B14:00", "created_from"),
    ],
)
async def test_a_moment_is_iso_8601_text_in_years_the_engine_computes_with(
    stack: Stack, url: str, field: str
) -> None:
    """Numbers once passed as Unix seconds, though the schema says an ISO 8601 date-time."""
    async with stack.client(SUPPORT) as http:
        response = await http.get(url)
    _refused(response, field)


async def test_an_order_of_more_lines_than_any_shop_sends_is_refused(stack: Stack) -> None:
    """20,000 lines (11 MB) were once stored, and read back in ten seconds."""
    lines = [line(f"L{i}", 1, 100) for i in range(501)]
    async with stack.client("platform:shop") as platform:
        response = await platform.put(f"/v1/orders/{new_order_id()}", json=order_body(lines))
    _refused(response, "lines")
