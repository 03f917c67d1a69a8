"""Refund-only tickets before shipment, end to end through the API on the real stack."""

from __future__ import annotations

import asyncio
from typing import Any

from contracts import search_attributes as sa
from tests.support.orders import (
    application,
    buyer_id,
    line,
    new_order_id,
    order_body,
    put_order,
)
from tests.support.stack import Stack


async def new_order(stack: Stack, body: dict[str, Any]) -> str:
    order_id = new_order_id()
    async with stack.client("platform:shop") as platform:
        await put_order(platform, order_id, body)
    return order_id


async def test_a_refund_before_shipment_completes_with_the_exact_amount_and_shipping(
    stack: Stack,
) -> None:
    label = await stack.new_buyer()
    order_id = await new_order(
        stack,
        order_body(
            [line("L1", 2, 8800, 1000), line("L2", 1, 12900)],
            buyer=buyer_id(label),
            shipping=1000,
        ),
    )
    async with stack.client(label) as buyer:
        created = await buyer.post("/v1/tickets", json=application(order_id, ("L1", 2), ("L2", 1)))
    assert created.status_code == 201, created.text
    ticket_no = created.json()["ticket_no"]
    assert ticket_no.startswith("AS") and created.json()["quoted_amount"] == 30500

    ticket = await stack.ticket_when(label, ticket_no, "completed", "refund_failed")
    async with stack.client(label) as buyer:
        order = (await buyer.get(f"/v1/orders/{order_id}")).json()

    assert ticket["status"] == "completed"
    assert ticket["granted_amount"] == ticket["refunded_amount"] == 17600 - 1000 + 12900 + 1000
    assert ticket["breakdown"]["shipping_amount"] == 1000
    [refund] = ticket["refunds"]
    assert refund["status"] == "succeeded" and refund["amount"] == 30500
    assert refund["idempotency_key"] == f"{ticket_no}-R1"
    assert refund["provider_refund_id"].startswith("re_")
    assert [h["status"] for h in refund["status_history"]] == ["granted", "pending", "succeeded"]
    assert [(t["from_status"], t["to_status"]) for t in ticket["timeline"]] == [
        ("submitted", "refunding"),
        ("refunding", "completed"),
    ]
    assert "completes the unshipped order" in ticket["timeline"][0]["reason"]
    assert ticket["timeline"][0]["deadline_at"] is not None
    assert order["after_sales_status"] == "refunded"
    assert order["refunded_total"] == 30500 and order["closed"] is True

    async with stack.sandbox() as sandbox:
        at_provider = (
            await sandbox.get(
                "/v1/refunds", params={"payment_reference": order["payment"]["reference"]}
            )
        ).json()
    refunds_at_provider = at_provider if isinstance(at_provider, list) else at_provider["data"]
    assert [r["amount"] for r in refunds_at_provider] == [30500]


async def test_partial_tickets_split_a_line_exactly_and_the_last_one_returns_shipping(
    stack: Stack,
) -> None:
    label = await stack.new_buyer()
    order_id = await new_order(
        stack, order_body([line("L1", 3, 3333, 1)], buyer=buyer_id(label), shipping=800)
    )
    amounts = []
    async with stack.client(label) as buyer:
        for _ in range(3):
            created = await buyer.post("/v1/tickets", json=application(order_id, ("L1", 1)))
            assert created.status_code == 201, created.text
            done = await stack.ticket_when(label, created.json()["ticket_no"], "completed")
            amounts.append(done["refunded_amount"])
        order = (await buyer.get(f"/v1/orders/{order_id}")).json()
        refused = await buyer.post("/v1/tickets", json=application(order_id, ("L1", 1)))

    # 9998 over 3 units by largest remainder: 3333, 3333, 3332; shipping with the last ticket.
    assert amounts == [3333, 3333, 3332 + 800]
    assert order["refunded_total"] == order["payment"]["paid_total"] == 9998 + 800
    assert order["after_sales_status"] == "refunded"
    assert refused.status_code == 422 and refused.json()["code"] == "order_already_refunded"


async def test_a_partial_refund_leaves_the_order_partially_refunded(stack: Stack) -> None:
    label = await stack.new_buyer()
    order_id = await new_order(
        stack,
        order_body([line("L1", 1, 5000), line("L2", 1, 2000)], buyer=buyer_id(label), shipping=600),
    )
    async with stack.client(label) as buyer:
        created = await buyer.post("/v1/tickets", json=application(order_id, ("L2", 1)))
        ticket = await stack.ticket_when(label, created.json()["ticket_no"], "completed")
        order = (await buyer.get(f"/v1/orders/{order_id}")).json()
    assert ticket["refunded_amount"] == 2000
    assert order["after_sales_status"] == "partially_refunded"
    assert order["closed"] is False


async def test_the_opening_answers_with_the_ticket_as_it_was_stored(stack: Stack) -> None:
    """The 201 is the row the opening wrote (its workflow's steps come after, and a read shows
    them); nothing of it is missing for not having been read back."""
    label = await stack.new_buyer()
    order_id = await new_order(stack, order_body([line("L1", 1, 4200)], buyer=buyer_id(label)))
    async with stack.client(label) as buyer:
        created = await buyer.post("/v1/tickets", json=application(order_id, ("L1", 1)))
    assert created.status_code == 201, created.text
    opened = created.json()
    assert (opened["status"], opened["version"], opened["next_actor"]) == ("submitted", 0, "system")
    assert opened["timeline"] == [] and opened["refunds"] == [] and opened["messages"] == []
    assert opened["quoted_amount"] == 4200 and opened["breakdown"]["total"] == 4200
    assert [(x["line_id"], x["quantity"]) for x in opened["lines"]] == [("L1", 1)]
    assert opened["allowed_actions"] == []  # nothing is for the buyer to do while it opens

    ticket = await stack.ticket_when(label, opened["ticket_no"], "completed")
    assert ticket["created_at"] == opened["created_at"]
    assert ticket["updated_at"] > opened["updated_at"] and ticket["version"] > 0
    assert ticket["timeline"][0]["from_status"] == "submitted"


async def test_the_same_idempotency_key_gives_the_same_ticket_never_two(stack: Stack) -> None:
    label = await stack.new_buyer()
    order_id = await new_order(stack, order_body([line("L1", 2, 1500)], buyer=buyer_id(label)))
    body = application(order_id, ("L1", 1))
    headers = {"Idempotency-Key": f"open-{order_id}"}
    async with stack.client(label) as buyer:
        first, second = await asyncio.gather(
            buyer.post("/v1/tickets", json=body, headers=headers),
            buyer.post("/v1/tickets", json=body, headers=headers),
        )
        third = await buyer.post("/v1/tickets", json=body, headers=headers)
        other_body = await buyer.post(
            "/v1/tickets", json=application(order_id, ("L1", 2)), headers=headers
        )
        listed = (await buyer.get("/v1/tickets", params={"order_id": order_id})).json()

    numbers = {r.json()["ticket_no"] for r in (first, second, third) if r.status_code < 300}
    assert sorted([first.status_code, second.status_code]) in ([201, 201], [201, 409])
    assert third.status_code == 201 and third.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers or "Idempotent-Replayed" not in second.headers
    assert len(numbers) == 1
    assert other_body.status_code == 422 and other_body.json()["code"] == "idempotency_key_reused"
    assert [t["ticket_no"] for t in listed["items"]] == list(numbers)


async def test_refused_applications_say_why_and_leave_nothing_behind(stack: Stack) -> None:
    label = await stack.new_buyer()
    me = buyer_id(label)
    order_id = await new_order(stack, order_body([line("L1", 2, 1500)], buyer=me))
    shipped = await new_order(stack, order_body([line("L1", 1, 1500)], buyer=me, status="shipped"))
    unpaid = await new_order(stack, order_body([line("L1", 1, 1500, 1500)], buyer=me))
    others = await new_order(stack, order_body([line("L1", 1, 1500)], buyer="b-502"))

    async with stack.client(label) as buyer:
        cases = {
            "unknown order": await buyer.post(
                "/v1/tickets", json=application("NO-SUCH-ORDER", ("L1", 1))
            ),
            "another buyer's order": await buyer.post(
                "/v1/tickets", json=application(others, ("L1", 1))
            ),
            "unknown line": await buyer.post("/v1/tickets", json=application(order_id, ("L9", 1))),
            "too many": await buyer.post("/v1/tickets", json=application(order_id, ("L1", 3))),
            "unpaid": await buyer.post("/v1/tickets", json=application(unpaid, ("L1", 1))),
            "exchange before delivery": await buyer.post(
                "/v1/tickets", json=application(shipped, ("L1", 1), type="exchange")
            ),
            "bad reason": await buyer.post(
                "/v1/tickets", json=application(order_id, ("L1", 1), reason_code="bored")
            ),
            "more than paid": await buyer.post(
                "/v1/tickets", json=application(order_id, ("L1", 1), requested_amount=1501)
            ),
        }
        listed = (await buyer.get("/v1/tickets", params={"order_id": order_id})).json()
    async with stack.client("merchant:m-1001") as merchant:
        cases["wrong role"] = await merchant.post(
            "/v1/tickets", json=application(order_id, ("L1", 1))
        )
    async with stack.client(None) as anonymous:
        cases["no key"] = await anonymous.post("/v1/tickets", json=application(order_id, ("L1", 1)))

    seen = {
        name: (r.status_code, r.json()["code"], r.json().get("errors", [{}])[0].get("field"))
        for name, r in cases.items()
    }
    assert seen == {
        "unknown order": (404, "order_not_found", "order_id"),
        "another buyer's order": (404, "order_not_found", "order_id"),
        "unknown line": (422, "unknown_line", "lines[0].line_id"),
        "too many": (422, "quantity_exceeds_available", "lines[0].quantity"),
        "unpaid": (422, "order_not_paid", None),
        "exchange before delivery": (422, "type_not_allowed", "type"),
        "bad reason": (422, "validation_error", "reason_code"),
        "more than paid": (422, "requested_amount_exceeds_maximum", "requested_amount"),
        "wrong role": (403, "forbidden_role", None),
        "no key": (401, "unauthenticated", None),
    }
    assert all(r.headers["content-type"] == "application/problem+json" for r in cases.values())
    assert listed["items"] == []
    for refused_order in (order_id, shipped, unpaid, others):
        started = [
            w async for w in stack.temporal.client.list_workflows(f'OrderId = "{refused_order}"')
        ]
        assert started == []


async def test_a_line_with_an_open_ticket_cannot_be_applied_for_again(stack: Stack) -> None:
    label = await stack.new_buyer()
    order_id = await new_order(
        stack, order_body([line("L1", 2, 1500)], buyer=buyer_id(label), method="card")
    )
    async with stack.sandbox() as sandbox, stack.client("platform:shop") as platform:
        reference = (await platform.get(f"/v1/orders/{order_id}")).json()["payment"]["reference"]
        rule = await sandbox.post(
            "/v1/control/rules",
            json={
                "match_payment_reference": reference,
                "outcome": "fail",
                "reason": "card_closed",
            },
        )
        assert rule.status_code in (200, 201), rule.text
    async with stack.client(label) as buyer:
        created = await buyer.post("/v1/tickets", json=application(order_id, ("L1", 1)))
        ticket = await stack.ticket_when(label, created.json()["ticket_no"], "refund_failed")
        again = await buyer.post("/v1/tickets", json=application(order_id, ("L1", 1)))
        order = (await buyer.get(f"/v1/orders/{order_id}")).json()

    assert ticket["next_actor"] == "support"
    assert "card_closed" in ticket["timeline"][-1]["reason"]
    assert ticket["refunds"][0]["status"] == "failed"
    assert again.status_code == 422 and again.json()["code"] == "line_has_open_ticket"
    assert ticket["ticket_no"] in again.json()["detail"]
    assert order["refunded_total"] == 0 and order["after_sales_status"] == "none"


async def test_tickets_are_listed_newest_first_by_cursor_and_only_to_those_involved(
    stack: Stack,
) -> None:
    label = await stack.new_buyer()
    order_id = await new_order(
        stack, order_body([line(f"L{i}", 1, 1000) for i in range(5)], buyer=buyer_id(label))
    )
    opened = []
    async with stack.client(label) as buyer:
        for i in range(5):
            created = await buyer.post("/v1/tickets", json=application(order_id, (f"L{i}", 1)))
            opened.append(created.json()["ticket_no"])
        pages: list[list[str]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"order_id": order_id, "limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = (await buyer.get("/v1/tickets", params=params)).json()
            pages.append([t["ticket_no"] for t in page["items"]])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        by_type = (
            await buyer.get("/v1/tickets", params={"order_id": order_id, "type": "exchange"})
        ).json()
        bad_cursor = await buyer.get("/v1/tickets", params={"cursor": "garbage"})

    visible = {}
    for viewer in ("buyer:b-502", "merchant:m-1001", "merchant:m-2002", "support:s-1"):
        async with stack.client(viewer) as http:
            listed = (await http.get("/v1/tickets", params={"order_id": order_id})).json()
            single = await http.get(f"/v1/tickets/{opened[0]}")
            visible[viewer] = (len(listed["items"]), single.status_code)

    assert [len(p) for p in pages] == [2, 2, 1]
    assert [n for p in pages for n in p] == list(reversed(opened))
    assert by_type["items"] == []
    assert bad_cursor.status_code == 422 and bad_cursor.json()["code"] == "invalid_cursor"
    assert visible == {
        "buyer:b-502": (0, 404),
        "merchant:m-1001": (5, 200),
        "merchant:m-2002": (0, 404),
        "support:s-1": (5, 200),
    }


async def test_support_finds_every_ticket_of_an_order_in_temporal_by_order_id(
    stack: Stack,
) -> None:
    label = await stack.new_buyer()
    order_id = await new_order(
        stack, order_body([line("L1", 1, 1000), line("L2", 1, 1000)], buyer=buyer_id(label))
    )
    async with stack.client(label) as buyer:
        numbers = {
            (await buyer.post("/v1/tickets", json=application(order_id, (x, 1)))).json()[
                "ticket_no"
            ]
            for x in ("L1", "L2")
        }
    for number in numbers:
        await stack.ticket_when(label, number, "completed")
    client = stack.temporal.client
    found: set[str] = set()
    async with asyncio.timeout(20):
        while found != numbers:
            found = {w.id async for w in client.list_workflows(f'OrderId = "{order_id}"')}
            await asyncio.sleep(0.2)
    described = await client.get_workflow_handle(sorted(numbers)[0]).describe()
    attributes = described.typed_search_attributes
    assert attributes.get(sa.TICKET_STATUS) == "completed"
    assert attributes.get(sa.REFUND_AMOUNT) == 1000
    assert attributes.get(sa.TICKET_TYPE) == "refund_only"
    assert attributes.get(sa.BUYER_ID) == buyer_id(label)
    assert order_id in (await described.static_summary() or "")


async def test_support_retries_a_failed_refund_and_the_money_arrives_once(stack: Stack) -> None:
    label = await stack.new_buyer()
    order_id = await new_order(
        stack, order_body([line("L1", 2, 1500)], buyer=buyer_id(label), method="card")
    )
    async with stack.sandbox() as sandbox, stack.client("platform:shop") as platform:
        reference = (await platform.get(f"/v1/orders/{order_id}")).json()["payment"]["reference"]
        rule = await sandbox.post(
            "/v1/control/rules",
            json={
                "match_payment_reference": reference,
                "outcome": "fail",
                "reason": "card_closed",
                "times": 1,
            },
        )
        assert rule.status_code in (200, 201), rule.text
    async with stack.client(label) as buyer:
        created = await buyer.post("/v1/tickets", json=application(order_id, ("L1", 2)))
        ticket_no = created.json()["ticket_no"]
        failed = await stack.ticket_when(label, ticket_no, "refund_failed")
        by_buyer = await buyer.post(f"/v1/tickets/{ticket_no}/retry-refund", json={})
    async with stack.client("support:s-1") as support:
        retried = await support.post(
            f"/v1/tickets/{ticket_no}/retry-refund",
            json={"note": "new card on file", "expected_version": failed["version"]},
        )
        done = await stack.ticket_when("support:s-1", ticket_no, "completed")
        again = await support.post(f"/v1/tickets/{ticket_no}/retry-refund", json={})
        order = (await support.get(f"/v1/orders/{order_id}")).json()

    assert failed["next_actor"] == "support" and failed["allowed_actions"] == ["messages"]
    assert by_buyer.status_code == 403
    assert retried.status_code == 200, retried.text
    assert retried.json()["timeline"][-1]["event"] == "refund_retried"
    assert [(r["idempotency_key"], r["status"]) for r in done["refunds"]] == [
        (f"{ticket_no}-R1", "failed"),
        (f"{ticket_no}-R2", "succeeded"),
    ]
    assert done["refunded_amount"] == 3000
    assert again.status_code == 409 and again.json()["code"] == "illegal_transition"
    assert order["refunded_total"] == 3000 and order["after_sales_status"] == "refunded"
