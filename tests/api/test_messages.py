"""Messages on a ticket: stored by the API, never changing the ticket's state."""

from __future__ import annotations

from tests.support.orders import buyer_id, line, open_ticket, order_body
from tests.support.stack import Stack

MERCHANT = "merchant:m-1001"
SUPPORT = "support:s-1"


async def _waiting_ticket(stack: Stack, label: str) -> str:
    """A CNY 6,000.00 refund, which waits for support's second approval: an open ticket."""
    body = order_body([line("L1", 1, 600000)], buyer=buyer_id(label))
    async with stack.client("platform:shop") as platform, stack.client(label) as buyer:
        ticket_no = await open_ticket(platform, buyer, body, ("L1", 1))
    await stack.ticket_when(SUPPORT, ticket_no, "awaiting_second_approval")
    return ticket_no


async def _completed_ticket(stack: Stack, label: str) -> str:
    body = order_body([line("L1", 1, 1500)], buyer=buyer_id(label))
    async with stack.client("platform:shop") as platform, stack.client(label) as buyer:
        ticket_no = await open_ticket(platform, buyer, body, ("L1", 1))
    await stack.ticket_when(SUPPORT, ticket_no, "completed")
    return ticket_no


async def test_buyer_merchant_and_support_talk_on_an_open_ticket(stack: Stack) -> None:
    label = await stack.new_buyer()
    ticket_no = await _waiting_ticket(stack, label)
    url = f"/v1/tickets/{ticket_no}/messages"
    async with stack.client(SUPPORT) as support:
        before = (await support.get(f"/v1/tickets/{ticket_no}")).json()
    async with stack.client(label) as buyer:
        asked = await buyer.post(
            url,
            json={
                "body": "When will the refund arrive?",
                "attachments": ["https://img.example/a.jpg"],
            },
        )
    async with stack.client(MERCHANT) as merchant:
        answered = await merchant.post(url, json={"body": "We approved it; support checks it."})
    async with stack.client(SUPPORT) as support:
        noted = await support.post(url, json={"body": "Checking the payment now."})
        after = (await support.get(f"/v1/tickets/{ticket_no}")).json()
    async with stack.client(label) as buyer:
        listed = await buyer.get(url)
        first_page = (await buyer.get(url, params={"limit": 2})).json()
        second_page = (
            await buyer.get(url, params={"limit": 2, "cursor": first_page["next_cursor"]})
        ).json()

    assert asked.status_code == 201, asked.text
    message = asked.json()
    assert message["ticket_no"] == ticket_no
    assert (message["author_role"], message["author_id"]) == ("buyer", buyer_id(label))
    assert message["body"] == "When will the refund arrive?"
    assert message["attachments"] == ["https://img.example/a.jpg"]
    assert message["created_at"]
    assert answered.status_code == 201 and noted.status_code == 201
    assert listed.status_code == 200
    assert [(m["author_role"], m["body"]) for m in listed.json()["items"]] == [
        ("buyer", "When will the refund arrive?"),
        ("merchant", "We approved it; support checks it."),
        ("support", "Checking the payment now."),
    ]
    assert listed.json()["next_cursor"] is None
    assert [m["message_id"] for m in first_page["items"] + second_page["items"]] == [
        m["message_id"] for m in listed.json()["items"]
    ]
    assert second_page["next_cursor"] is None
    # Messages never reach the workflow: state and version stay where they were.
    assert (after["status"], after["version"]) == (before["status"], before["version"])
    assert after["timeline"] == before["timeline"]


async def test_a_replayed_message_is_stored_once(stack: Stack) -> None:
    label = await stack.new_buyer()
    ticket_no = await _waiting_ticket(stack, label)
    url = f"/v1/tickets/{ticket_no}/messages"
    key = {"Idempotency-Key": f"msg-{ticket_no}"}
    async with stack.client(label) as buyer:
        first = await buyer.post(url, json={"body": "hello"}, headers=key)
        again = await buyer.post(url, json={"body": "hello"}, headers=key)
        other_body = await buyer.post(url, json={"body": "bye"}, headers=key)
        listed = (await buyer.get(url)).json()

    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert other_body.status_code == 422
    assert other_body.json()["code"] == "idempotency_key_reused"
    assert [m["body"] for m in listed["items"]] == ["hello"]


async def test_only_the_parties_of_a_ticket_see_and_write_its_messages(stack: Stack) -> None:
    ticket_no = await _waiting_ticket(stack, await stack.new_buyer())
    url = f"/v1/tickets/{ticket_no}/messages"
    answers = {}
    for label in ("buyer:b-502", "merchant:m-2002", "warehouse:wh-1001", "platform:shop"):
        async with stack.client(label) as other:
            answers[label] = (await other.get(url), await other.post(url, json={"body": "hi"}))
    async with stack.client(SUPPORT) as support:
        unknown = await support.get("/v1/tickets/AS19990101-000001/messages")
        listed = (await support.get(url)).json()

    for label in ("buyer:b-502", "merchant:m-2002"):
        read, write = answers[label]
        assert read.status_code == write.status_code == 404
        assert read.json()["code"] == write.json()["code"] == "ticket_not_found"
    for label in ("warehouse:wh-1001", "platform:shop"):
        read, write = answers[label]
        assert read.status_code == write.status_code == 403
        assert read.json()["code"] == write.json()["code"] == "forbidden_role"
    assert unknown.status_code == 404 and unknown.json()["code"] == "ticket_not_found"
    assert listed["items"] == []


async def test_a_closed_ticket_takes_messages_from_support_only(stack: Stack) -> None:
    label = await stack.new_buyer()
    ticket_no = await _completed_ticket(stack, label)
    url = f"/v1/tickets/{ticket_no}/messages"
    async with stack.client(label) as buyer:
        by_buyer = await buyer.post(url, json={"body": "thanks!"})
    async with stack.client(MERCHANT) as merchant:
        by_merchant = await merchant.post(url, json={"body": "you're welcome"})
    async with stack.client(SUPPORT) as support:
        by_support = await support.post(url, json={"body": "closing note for the record"})
    async with stack.client(label) as buyer:
        listed = (await buyer.get(url)).json()

    for refused in (by_buyer, by_merchant):
        assert refused.status_code == 409
        assert refused.json()["code"] == "illegal_transition"
        assert "completed" in refused.json()["detail"]
    assert by_support.status_code == 201
    assert [m["author_role"] for m in listed["items"]] == ["support"]


async def test_a_message_must_have_a_body_and_at_most_ten_web_links(stack: Stack) -> None:
    label = await stack.new_buyer()
    ticket_no = await _waiting_ticket(stack, label)
    url = f"/v1/tickets/{ticket_no}/messages"
    links = [f"https://img.example/{n}.jpg" for n in range(11)]
    async with stack.client(label) as buyer:
        empty = await buyer.post(url, json={"body": "   "})
        too_long = await buyer.post(url, json={"body": "x" * 4001})
        too_many = await buyer.post(url, json={"body": "pics", "attachments": links})
        not_web = await buyer.post(url, json={"body": "pics", "attachments": ["ftp://x/1.jpg"]})
        ten = await buyer.post(url, json={"body": "x" * 4000, "attachments": links[:10]})

    for refused, field in (
        (empty, "body"),
        (too_long, "body"),
        (too_many, "attachments"),
        (not_web, "attachments[0]"),
    ):
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "validation_error"
        assert refused.json()["errors"][0]["field"] == field
    assert ten.status_code == 201 and len(ten.json()["attachments"]) == 10
