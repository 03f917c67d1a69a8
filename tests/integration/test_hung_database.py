"""A PostgreSQL that hangs rather than goes away (a paused VM, a stopped process, a stalled disk):
its connections stay open and nothing comes back, so no timeout of the driver or of the server
fires. The API still answers within 5 s: 503 `database_unavailable` when nothing was done, and
`outcome_unknown` when what hung was a commit, which the server applies once it wakes.

The API under test reaches PostgreSQL through a proxy the test hangs and resumes (it holds what
passes either way, as a stopped server's sockets do); the worker keeps the real address.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable

import httpx
import pytest

from api.database_watch import PROBE, SILENCE, VERDICT_KEPT, DatabaseProbe
from tests.support.fault_stack import FaultyApi, faulty_api, holding, refused, through, timed
from tests.support.orders import line, new_order_id, order_body, put_order
from tests.support.stack import Stack
from tests.support.tickets import MERCHANT, open_for_review

# The contract (README): an answer within 5 s. Asserted at that plus the scheduling slack of a
# shared machine; each figure is printed.
WITHIN = 6.0


@pytest.fixture
async def faulty(stack: Stack) -> AsyncIterator[FaultyApi]:
    async with faulty_api(stack) as api:
        yield api


async def _timed(what: str, call: Awaitable[httpx.Response]) -> httpx.Response:
    return await timed(what, call, within=WITHIN)


async def test_with_the_database_hung_every_call_answers_503_in_time_and_nothing_was_done(
    stack: Stack, faulty: FaultyApi
) -> None:
    opened = await open_for_review(stack)
    approve_path = f"/v1/tickets/{opened.ticket_no}/approve"
    approve = {"Idempotency-Key": f"approve-{uuid.uuid4().hex[:12]}"}
    async with faulty.client(opened.buyer) as buyer, faulty.client(MERCHANT) as merchant:
        assert (await buyer.get(f"/v1/tickets/{opened.ticket_no}")).status_code == 200
        # The server hangs as the ticket's read reaches it, on an open connection: no timeout
        # of the driver or of the server fires.
        faulty.database.hang_when_sent(opened.ticket_no.encode())
        try:
            read = await _timed(
                "hung mid-read, GET ticket", buyer.get(f"/v1/tickets/{opened.ticket_no}")
            )
            refused(read, "database_unavailable")
            # Whatever the pool holds now, every call is answered in time.
            answers = await asyncio.gather(
                _timed("hung, GET ticket", buyer.get(f"/v1/tickets/{opened.ticket_no}")),
                _timed("hung, GET tickets", buyer.get("/v1/tickets")),
                _timed("hung, POST approve", merchant.post(approve_path, json={}, headers=approve)),
                _timed("hung, GET readyz", buyer.get("/readyz")),
            )
            for answer in answers:
                refused(answer, "database_unavailable")
        finally:
            faulty.database.resume()

        # Nothing was done: the approval under the same key is the first one, and acts.
        async with asyncio.timeout(30):
            while True:
                retried = await merchant.post(approve_path, json={}, headers=approve)
                if retried.status_code != 503:
                    break
                await asyncio.sleep(0.5)
    assert retried.status_code == 200, retried.text
    assert "Idempotent-Replayed" not in retried.headers
    # One approval (the return label's step after it may or may not be recorded yet).
    approvals = [e for e in retried.json()["timeline"] if e["event"] == "approved_by_merchant"]
    assert len(approvals) == 1


async def test_a_commit_the_hung_database_never_answered_is_unknown_and_was_stored(
    stack: Stack, faulty: FaultyApi
) -> None:
    order_id = new_order_id("H")
    body = order_body([line("L1", 1, 2500)])
    async with faulty.client("platform:shop") as platform:
        assert (await platform.get("/readyz")).status_code == 200
        # The order's statements go through; the commit after them reaches the server, and the
        # server hangs before it answers.
        faulty.database.hang_at_commit(after=order_id.encode())
        try:
            stored = await _timed(
                "commit hung, PUT order", platform.put(f"/v1/orders/{order_id}", json=body)
            )
        finally:
            faulty.database.resume()
        problem = refused(stored, "outcome_unknown")
        assert problem["retry_with_same_idempotency_key"] is False
        assert "may or may not have been stored" in problem["detail"]

        # It was stored: the server committed it when it woke.
        async with asyncio.timeout(30):
            while True:
                read = await platform.get(f"/v1/orders/{order_id}")
                if read.status_code != 503:
                    break
                await asyncio.sleep(0.5)
        assert read.status_code == 200, read.text
    assert read.json()["order_id"] == order_id
    # The platform's resend is harmless: the same order, unchanged.
    async with stack.client("platform:shop") as platform:
        await put_order(platform, order_id, body)


async def test_a_slow_statement_on_a_database_that_answers_is_waited_for(
    stack: Stack, faulty: FaultyApi
) -> None:
    order_id = new_order_id("S")
    async with stack.client("platform:shop") as platform:
        await put_order(platform, order_id, order_body([line("L1", 1, 2500)]))
    changed = order_body([line("L1", 1, 2500)], version=2)
    lock = "SELECT 1 FROM orders WHERE order_id = %s FOR UPDATE"
    async with faulty.client("platform:shop") as platform, holding(stack, lock, order_id) as held:
        put = asyncio.create_task(platform.put(f"/v1/orders/{order_id}", json=changed))
        await held.someone_waits()
        # Longer than the silence after which the API asks whether the server answers.
        await asyncio.sleep(SILENCE.total_seconds() + 1.5)
        assert not put.done(), put.result().text
        await held.release()
        answer = await put
    assert answer.status_code == 200, answer.text


async def test_the_probe_tells_a_hung_server_from_a_live_one_and_forgets_old_verdicts(
    stack: Stack, faulty: FaultyApi
) -> None:
    probe = DatabaseProbe(through(stack.settings.require_database_url(), faulty.database))
    kept = VERDICT_KEPT.total_seconds()
    assert await probe.answers() is True

    faulty.database.hang()
    await asyncio.sleep(kept)
    started = time.monotonic()
    assert await probe.answers() is False
    assert time.monotonic() - started < PROBE.total_seconds() + 0.5

    # A caller that gives up while the probe is out leaves it to finish on its own; once its
    # verdict is old, the next caller gets a new probe, not that verdict again.
    await asyncio.sleep(kept)
    gave_up = asyncio.create_task(probe.answers())
    await asyncio.sleep(0.1)
    gave_up.cancel()
    await asyncio.sleep(PROBE.total_seconds())  # that probe finds the server hung
    faulty.database.resume()
    await asyncio.sleep(kept + 0.2)
    assert await probe.answers() is True
