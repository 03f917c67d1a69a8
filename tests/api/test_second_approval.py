"""Refunds above the second-approval threshold wait for support before money moves."""

from __future__ import annotations

from tests.support.orders import buyer_id, line, open_ticket, order_body
from tests.support.stack import Stack

SUPPORT = "support:s-1"


async def _large_ticket(stack: Stack, label: str) -> tuple[str, str]:
    """A CNY 6,000.00 refund of the buyer `label`: above the default threshold of CNY 5,000.00."""
    body = order_body([line("L1", 1, 600000)], buyer=buyer_id(label))
    async with stack.client("platform:shop") as platform, stack.client(label) as buyer:
        ticket_no = await open_ticket(platform, buyer, body, ("L1", 1))
    ticket = await stack.ticket_when(label, ticket_no, "awaiting_second_approval")
    return ticket["order_id"], ticket_no


async def test_support_approves_a_large_refund_and_only_then_is_it_paid(stack: Stack) -> None:
    label = await stack.new_buyer()
    order_id, ticket_no = await _large_ticket(stack, label)
    waiting = await stack.ticket_when(SUPPORT, ticket_no, "awaiting_second_approval")
    as_buyer = await stack.ticket_when(label, ticket_no, "awaiting_second_approval")
    url = f"/v1/tickets/{ticket_no}/second-approval"
    async with stack.client(label) as buyer:
        by_buyer = await buyer.post(url, json={"decision": "approve"})
    async with stack.client("merchant:m-2002") as stranger:
        by_merchant = await stranger.post(url, json={"decision": "approve"})
    async with stack.client(SUPPORT) as support:
        stale = await support.post(
            url, json={"decision": "approve", "expected_version": waiting["version"] - 1}
        )
        approved = await support.post(
            url,
            json={"decision": "approve", "note": "order verified", "expected_version": 1},
            headers={"Idempotency-Key": f"approve-{ticket_no}"},
        )
        done = await stack.ticket_when(SUPPORT, ticket_no, "completed")
        again = await support.post(url, json={"decision": "decline"})
        order = (await support.get(f"/v1/orders/{order_id}")).json()
        unknown = await support.post(
            "/v1/tickets/AS19990101-000001/second-approval", json={"decision": "approve"}
        )

    assert waiting["next_actor"] == "support" and waiting["refunds"][0]["status"] == "granted"
    assert waiting["allowed_actions"] == ["second-approval", "messages"]
    assert as_buyer["allowed_actions"] == ["messages"]
    assert by_buyer.status_code == 403 and by_buyer.json()["code"] == "forbidden_role"
    assert by_merchant.status_code == 403
    assert stale.status_code == 409 and stale.json()["code"] == "version_conflict"
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "refunding"
    assert approved.json()["timeline"][-1]["actor_role"] == "support"
    assert approved.json()["timeline"][-1]["actor_id"] == "s-1"
    assert done["refunded_amount"] == 600000
    assert done["allowed_actions"] == ["messages"]
    assert again.status_code == 409 and again.json()["code"] == "illegal_transition"
    assert order["refunded_total"] == 600000
    assert unknown.status_code == 404


async def test_a_declined_large_refund_moves_no_money_and_frees_the_line(stack: Stack) -> None:
    label = await stack.new_buyer()
    order_id, ticket_no = await _large_ticket(stack, label)
    async with stack.client(SUPPORT) as support:
        declined = await support.post(
            f"/v1/tickets/{ticket_no}/second-approval",
            json={"decision": "decline", "note": "buyer disputes with the bank too"},
        )
        order = (await support.get(f"/v1/orders/{order_id}")).json()
    async with stack.client(label) as buyer:
        quote = await buyer.post(
            f"/v1/orders/{order_id}/refund-quote",
            json={"lines": [{"line_id": "L1", "quantity": 1}], "reason_code": "no_longer_needed"},
        )

    body = declined.json()
    assert declined.status_code == 200, declined.text
    assert body["status"] == "rejected" and body["next_actor"] == "buyer"
    assert body["deadline_at"] is not None and body["on_timeout"] == "close the ticket"
    assert body["refunds"][0]["status"] == "voided"
    assert "disputes" in body["timeline"][-1]["reason"]
    assert order["refunded_total"] == 0 and order["after_sales_status"] == "none"
    # The voided grant no longer counts against the order: the whole line can be quoted again.
    assert quote.json()["total"] == 600000
