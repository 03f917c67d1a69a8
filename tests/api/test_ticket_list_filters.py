"""`GET /v1/tickets?open=`: the tickets still going, or those that ended, of the caller's."""

from __future__ import annotations

from tests.support.shops import new_shop
from tests.support.stack import Stack
from tests.support.tickets import act, open_for_review


async def test_open_lists_the_tickets_still_going_and_false_those_that_ended(
    stack: Stack,
) -> None:
    shop = await new_shop(stack, "List shop")
    going = await open_for_review(stack, type="refund_only", merchant=shop)
    ended = await open_for_review(stack, type="refund_only", merchant=shop)
    cancelled = await act(stack, ended.buyer, ended.ticket_no, "cancel", {})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"

    async with stack.client(f"merchant:{shop}") as http:
        listed = {
            flag: [
                item["ticket_no"]
                for item in (await http.get("/v1/tickets", params=params)).json()["items"]
            ]
            for flag, params in (
                ("any", {}),
                ("open", {"open": "true"}),
                ("ended", {"open": "false"}),
                ("open and cancelled", {"open": "true", "status": "cancelled"}),
            )
        }
        refused = await http.get("/v1/tickets", params={"open": "maybe"})

    assert sorted(listed["any"]) == sorted([going.ticket_no, ended.ticket_no])
    assert listed["open"] == [going.ticket_no]
    assert listed["ended"] == [ended.ticket_no]
    assert listed["open and cancelled"] == []
    assert refused.status_code == 422, refused.text
