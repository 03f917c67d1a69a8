"""Honest answers during faults: with PostgreSQL or Temporal cut off from the API (a TCP proxy in
front of each, cut by the test), every call answers 503 problem+json with a stable code and
`Retry-After` within seconds; when the request may have taken effect it says `outcome_unknown`,
and the same request sent again under the same `Idempotency-Key` answers what really happened.

The API under test is one of its own, reaching PostgreSQL and Temporal through the proxies; the
worker keeps the real addresses, so a ticket goes on while the API cannot see it. A fault is
made to fall in the middle of a request by holding a row or a key that the request's write (or
the worker's record of an Update) waits on, cutting, then letting the write go.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from temporalio.service import RPCError, RPCStatusCode

from persistence.models import Ticket
from tests.support.fault_stack import FaultyApi, Holder, faulty_api, holding, refused, timed
from tests.support.orders import application, line, new_order_id, order_body, put_order
from tests.support.stack import Stack
from tests.support.tickets import MERCHANT, open_for_review, read

# What the contract promises is "within 5 s"; asserted generously, measured and printed.
BOUND = 10.0
APPROVED = "awaiting_buyer_return"


@pytest.fixture
async def faulty(stack: Stack) -> AsyncIterator[FaultyApi]:
    async with faulty_api(stack) as api:
        yield api


async def _timed(what: str, call: Awaitable[httpx.Response]) -> httpx.Response:
    return await timed(what, call, within=BOUND)


_refused = refused


def _approvals(ticket: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in ticket["timeline"] if e["event"] == "approved_by_merchant"]


async def _order_to_apply_on(stack: Stack, buyer: str) -> dict[str, Any]:
    """A paid order of the buyer's, and the application for it."""
    order_id = new_order_id("F")
    async with stack.client("platform:shop") as platform:
        await put_order(platform, order_id, order_body([line("L1", 2, 1500)], buyer=buyer[6:]))
    return application(order_id, ("L1", 1))


async def _tickets_of(stack: Stack, order_id: str) -> list[Ticket]:
    async with stack.sessions() as session:
        rows = await session.scalars(select(Ticket).where(Ticket.order_id == order_id))
        return list(rows)


async def _opened(stack: Stack, buyer: str, ticket_no: str) -> dict[str, Any]:
    """The ticket once its workflow has moved it on from `submitted`."""
    async with asyncio.timeout(30):
        while True:
            ticket: dict[str, Any] = (await read(stack, buyer, ticket_no)).json()
            if ticket["status"] != "submitted":
                return ticket
            await asyncio.sleep(0.2)


def _ticket_held(stack: Stack, ticket_no: str) -> AbstractAsyncContextManager[Holder]:
    """The ticket's row locked: the worker's record of an action taken waits for it."""
    return holding(stack, "SELECT 1 FROM tickets WHERE ticket_no = %s FOR UPDATE", ticket_no)


_KEY_TAKEN = (
    "INSERT INTO idempotent_requests (principal, key, scope, request_hash)"
    " VALUES (%s, %s, 'held', 'held')"
)


def _key(what: str) -> dict[str, str]:
    return {"Idempotency-Key": f"{what}-{uuid.uuid4().hex[:12]}"}


async def test_with_the_database_cut_every_call_answers_503_and_the_retries_act_once(
    stack: Stack, faulty: FaultyApi
) -> None:
    opened = await open_for_review(stack)
    application_ = await _order_to_apply_on(stack, opened.buyer)
    approve, create = _key("approve"), _key("create")
    approve_path = f"/v1/tickets/{opened.ticket_no}/approve"

    await faulty.database.cut()
    async with faulty.client(opened.buyer) as buyer, faulty.client(MERCHANT) as merchant:
        for what, call in (
            ("GET ticket", buyer.get(f"/v1/tickets/{opened.ticket_no}")),
            ("GET tickets", buyer.get("/v1/tickets")),
            ("POST ticket", buyer.post("/v1/tickets", json=application_, headers=create)),
            ("POST approve", merchant.post(approve_path, json={}, headers=approve)),
            ("GET readyz", buyer.get("/readyz")),
        ):
            _refused(await _timed(f"database cut, {what}", call), "database_unavailable")

        await faulty.database.restore()
        approved = await _timed(
            "restored, approve", merchant.post(approve_path, json={}, headers=approve)
        )
        created = await _timed(
            "restored, create", buyer.post("/v1/tickets", json=application_, headers=create)
        )

    assert approved.status_code == 200, approved.text
    assert len(_approvals(approved.json())) == 1
    assert created.status_code == 201, created.text
    # Nothing was done while the database was away: the retry is the first creation.
    assert "Idempotent-Replayed" not in created.headers
    assert [t.ticket_no for t in await _tickets_of(stack, application_["order_id"])] == [
        created.json()["ticket_no"]
    ]


async def test_with_temporal_cut_nothing_is_sent_reads_go_on_and_the_retries_act_once(
    stack: Stack, faulty: FaultyApi
) -> None:
    opened = await open_for_review(stack)
    application_ = await _order_to_apply_on(stack, opened.buyer)
    approve, create = _key("approve"), _key("create")
    approve_path = f"/v1/tickets/{opened.ticket_no}/approve"

    await faulty.temporal.cut()
    async with faulty.client(opened.buyer) as buyer, faulty.client(MERCHANT) as merchant:
        refused_approve = await _timed(
            "temporal cut, approve", merchant.post(approve_path, json={}, headers=approve)
        )
        refused_create = await _timed(
            "temporal cut, create", buyer.post("/v1/tickets", json=application_, headers=create)
        )
        ready = await _timed("temporal cut, readyz", buyer.get("/readyz"))
        seen = await _timed(
            "temporal cut, GET ticket", buyer.get(f"/v1/tickets/{opened.ticket_no}")
        )
        assert await _tickets_of(stack, application_["order_id"]) == []

        await faulty.temporal.restore()
        approved = await _timed(
            "restored, approve", merchant.post(approve_path, json={}, headers=approve)
        )
        created = await _timed(
            "restored, create", buyer.post("/v1/tickets", json=application_, headers=create)
        )

    _refused(refused_approve, "temporal_unavailable")
    _refused(refused_create, "temporal_unavailable")
    _refused(ready, "temporal_unavailable")
    assert seen.status_code == 200 and seen.json()["status"] == "awaiting_merchant_review"
    assert approved.status_code == 200 and len(_approvals(approved.json())) == 1
    assert created.status_code == 201 and "Idempotent-Replayed" not in created.headers
    assert len(await _tickets_of(stack, application_["order_id"])) == 1


async def test_an_approval_whose_answer_temporal_lost_is_unknown_until_its_retry_finds_it_taken(
    stack: Stack, faulty: FaultyApi
) -> None:
    opened = await open_for_review(stack)
    approve = _key("approve")
    path = f"/v1/tickets/{opened.ticket_no}/approve"
    async with faulty.client(MERCHANT) as merchant:
        async with _ticket_held(stack, opened.ticket_no) as lock:
            sent = asyncio.create_task(
                _timed("answer lost, approve", merchant.post(path, json={}, headers=approve))
            )
            # The worker records the approval: the workflow took it.
            await lock.someone_waits()
            faulty.temporal.swallow_answers()
            await lock.release()
            lost = await sent
        body = _refused(lost, "outcome_unknown")
        assert body["retry_with_same_idempotency_key"] is True
        assert "same Idempotency-Key" in body["detail"]

        await faulty.temporal.restore()
        again = await _timed(
            "restored, approve again", merchant.post(path, json={}, headers=approve)
        )

    assert again.status_code == 200, again.text
    assert again.json()["status"] == APPROVED
    assert len(_approvals(again.json())) == 1


async def test_without_a_key_an_unknown_outcome_says_to_read_the_ticket_instead(
    stack: Stack, faulty: FaultyApi
) -> None:
    opened = await open_for_review(stack)
    path = f"/v1/tickets/{opened.ticket_no}/approve"
    async with faulty.client(MERCHANT) as merchant:
        async with _ticket_held(stack, opened.ticket_no) as lock:
            sent = asyncio.create_task(_timed("answer lost, no key", merchant.post(path, json={})))
            await lock.someone_waits()
            faulty.temporal.swallow_answers()
            await lock.release()
            lost = await sent
        await faulty.temporal.restore()
        again = await _timed("restored, approve again without key", merchant.post(path, json={}))

    body = _refused(lost, "outcome_unknown")
    assert body["retry_with_same_idempotency_key"] is False
    assert f"GET /v1/tickets/{opened.ticket_no}" in body["detail"]
    ticket = (await read(stack, MERCHANT, opened.ticket_no)).json()
    assert ticket["status"] == APPROVED and len(_approvals(ticket)) == 1
    # What a blind retry would have done: a second approval, refused only by the ticket's state.
    assert (again.status_code, again.json()["code"]) == (409, "illegal_transition")


async def test_an_approval_taken_as_the_database_went_away_is_unknown_until_its_retry_finds_it(
    stack: Stack, faulty: FaultyApi
) -> None:
    opened = await open_for_review(stack)
    approve = _key("approve")
    path = f"/v1/tickets/{opened.ticket_no}/approve"
    async with faulty.client(MERCHANT) as merchant:
        async with _ticket_held(stack, opened.ticket_no) as lock:
            sent = asyncio.create_task(
                _timed("database lost, approve", merchant.post(path, json={}, headers=approve))
            )
            await lock.someone_waits()
            await faulty.database.cut()
            await lock.release()
            lost = await sent
        _refused(lost, "outcome_unknown")

        await faulty.database.restore()
        # The key was never stored: Temporal answers the retry with the Update it took.
        again = await _timed(
            "restored, approve again", merchant.post(path, json={}, headers=approve)
        )

    assert again.status_code == 200, again.text
    assert again.json()["status"] == APPROVED
    assert len(_approvals(again.json())) == 1


async def test_a_ticket_stored_as_temporal_went_away_is_unknown_until_its_retry_starts_it_once(
    stack: Stack, faulty: FaultyApi
) -> None:
    buyer = await stack.new_buyer()
    application_ = await _order_to_apply_on(stack, buyer)
    create = _key("create")
    async with faulty.client(buyer) as http:
        # The creation's key, written first by another transaction: the API's insert waits,
        # after it has found Temporal answering.
        async with holding(stack, _KEY_TAKEN, buyer, create["Idempotency-Key"]) as lock:
            sent = asyncio.create_task(
                _timed(
                    "temporal lost, create",
                    http.post("/v1/tickets", json=application_, headers=create),
                )
            )
            await lock.someone_waits()
            await faulty.temporal.cut()
            await lock.release()
            lost = await sent
        body = _refused(lost, "outcome_unknown")
        ticket_no = body["ticket_no"]
        [stored] = await _tickets_of(stack, application_["order_id"])
        assert (stored.ticket_no, stored.status) == (ticket_no, "submitted")
        with pytest.raises(RPCError) as no_workflow:
            await stack.temporal.client.get_workflow_handle(ticket_no).describe()
        assert no_workflow.value.status == RPCStatusCode.NOT_FOUND

        await faulty.temporal.restore()
        again = await _timed(
            "restored, create again", http.post("/v1/tickets", json=application_, headers=create)
        )

    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["ticket_no"] == ticket_no
    assert (await _opened(stack, buyer, ticket_no))["status"] != "submitted"
    assert len(await _tickets_of(stack, application_["order_id"])) == 1
    async with stack.sessions() as session:
        assert (
            await session.scalar(
                select(func.count()).select_from(Ticket).where(Ticket.ticket_no == ticket_no)
            )
            == 1
        )
