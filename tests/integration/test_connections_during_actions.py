"""An action holds no database connection while Temporal and the worker take it: a merchant
waiting on its Update must not keep one of the API's pooled connections from everyone else.

The worker's record of the approval is held back (the ticket's row locked), so the Update waits;
meanwhile PostgreSQL is asked what the API's connections are doing."""

from __future__ import annotations

import asyncio
import uuid

from tests.support.fault_stack import holding
from tests.support.stack import Stack
from tests.support.tickets import MERCHANT, open_for_review

# A connection left inside the action's read transaction: its last statement was the key's look-up.
_HELD_BY_AN_ACTION = """
SELECT count(*) FROM pg_stat_activity
WHERE state = 'idle in transaction' AND query ILIKE %s AND pid <> pg_backend_pid()
"""


async def test_an_approval_waiting_on_its_update_holds_no_database_connection(
    stack: Stack,
) -> None:
    opened = await open_for_review(stack)
    key = {"Idempotency-Key": f"approve-{uuid.uuid4().hex[:12]}"}
    lock = "SELECT 1 FROM tickets WHERE ticket_no = %s FOR UPDATE"
    async with stack.client(MERCHANT) as merchant, holding(stack, lock, opened.ticket_no) as held:
        approving = asyncio.create_task(
            merchant.post(f"/v1/tickets/{opened.ticket_no}/approve", json={}, headers=key)
        )
        await held.someone_waits()  # the worker's write of the approval waits for the lock
        await asyncio.sleep(0.5)
        cursor = await held.conn.execute(_HELD_BY_AN_ACTION, ("%idempotent_requests%",))
        row = await cursor.fetchone()
        assert row is not None
        held_by_actions = row[0]
        assert not approving.done()
        await held.release()
        answer = await approving
    assert held_by_actions == 0, f"{held_by_actions} connection(s) held by the waiting action"
    assert answer.status_code == 200, answer.text
