"""End-to-end throughput of a full return against its bare twin, on one running stack.

Ours: a `return_refund` ticket on an order delivered yesterday, through the HTTP API as each
party makes it: the buyer opens it, the merchant approves it, the buyer ships the goods back,
the courier (the sandbox courier, told by its control API) reports the parcel delivered and
sends its signed webhook to the API, the warehouse scans the parcel in and passes its
inspection, and the refund is settled at the payment sandbox (at once), until the workflow has
ended. The twin: the ticket's history repeated workflow task by workflow task, as for the
simplest ticket (bench/throughput.py). Both at the same concurrency on the same dev server, in
alternating rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import uuid
from collections import Counter
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.throughput import (
    AGAIN_AFTER,
    Comparison,
    Ours,
    Twin,
    alternate,
    comparison_tables,
    meter_for,
    sent_again,
    shape_when_ended,
    twin_worker,
)
from domain.tickets import TicketStatus
from persistence.models import Ticket
from reliability.harness import Stack

MERCHANT = "merchant:m-1001"
WAREHOUSE = "warehouse:wh-1001"
CARRIER = "sf"
# How often the tickets waited on are read, all in one query.
LOOK_EVERY = 0.1


class StatusBoard:
    """Wakes whoever waits for a ticket to reach a status, from one query over every ticket
    waited on every LOOK_EVERY seconds: a merchant's or a warehouse's work list, without the
    cost of each party polling the API."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._waiting: dict[str, tuple[str, asyncio.Future[None]]] = {}
        self._looking: asyncio.Task[None] | None = None

    async def reached(self, ticket_no: str, status: TicketStatus) -> None:
        done = asyncio.get_running_loop().create_future()
        self._waiting[ticket_no] = (status.value, done)
        if self._looking is None or self._looking.done():
            self._looking = asyncio.create_task(self._look())
        async with asyncio.timeout(120):
            await done

    async def aclose(self) -> None:
        if self._looking is not None:
            self._looking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._looking

    async def _look(self) -> None:
        while self._waiting:
            async with self._sessions() as session:
                rows = await session.execute(
                    select(Ticket.ticket_no, Ticket.status).where(
                        Ticket.ticket_no.in_(list(self._waiting))
                    )
                )
            for ticket_no, status in rows:
                wanted, done = self._waiting[ticket_no]
                if status == wanted:
                    del self._waiting[ticket_no]
                    if not done.done():
                        done.set_result(None)
            await asyncio.sleep(LOOK_EVERY)


class FullReturn:
    """A full return through the API, each party acting once its step is due. Actions carry
    an Idempotency-Key and are sent again under it on 503 (`outcome_unknown`); one refused
    with 409 while the workflow takes in the step before is sent again shortly, under a new
    key (both counted)."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        self.tickets = Ours(stack)
        self._board = StatusBoard(stack.sessions)
        self._api = httpx.AsyncClient(base_url=stack.api_url, timeout=120)
        self._courier = stack.courier()
        self.retried: Counter[str] = self.tickets.retried  # one count for every request

    async def aclose(self) -> None:
        await self._board.aclose()
        await self.tickets.aclose()
        await self._api.aclose()
        await self._courier.aclose()

    async def one(self, _: int) -> None:
        ticket_no = await self.through()
        await self._stack.temporal.get_workflow_handle(ticket_no).result()

    async def through(self) -> str:
        """One return, up to the inspection passed: its ticket number."""
        ticket_no, buyer = await self.tickets.open_as_buyer(delivered=True, kind="return_refund")
        merchant, warehouse = self._stack.keys[MERCHANT], self._stack.keys[WAREHOUSE]
        await self._board.reached(ticket_no, TicketStatus.awaiting_merchant_review)
        await self._act(merchant, ticket_no, "approve", {})
        tracking_no = f"SF{uuid.uuid4().hex[:12].upper()}"
        shipment = {"carrier": CARRIER, "tracking_no": tracking_no}
        await self._act(buyer, ticket_no, "return-shipment", shipment)
        delivered = await self._courier.post(
            f"/control/parcels/{tracking_no}/events",
            json={"status": "delivered", "carrier": CARRIER},
        )
        assert delivered.status_code == 201, delivered.text
        await self._board.reached(ticket_no, TicketStatus.awaiting_inspection)
        scanned = await self.tickets.sent(
            "POST", "/v1/warehouse/scans", {"code": tracking_no}, _bearer(warehouse)
        )
        assert scanned.status_code == 200, scanned.text
        passed = {"lines": [{"line_id": "L1", "accepted": 1, "rejected": 0}], "note": "as new"}
        await self._act(warehouse, ticket_no, "inspection", passed)
        return ticket_no

    async def _act(self, key: str, ticket_no: str, action: str, body: dict[str, Any]) -> None:
        refused = 0  # a 409 took no effect: the next try is a new request, under a new key
        async with asyncio.timeout(120):
            while True:
                sent = f"bench-{action}-{ticket_no}-{refused}"
                headers = _bearer(key) | {"Idempotency-Key": sent}
                try:
                    answer = await self._api.post(
                        f"/v1/tickets/{ticket_no}/{action}", json=body, headers=headers
                    )
                except httpx.TransportError as lost:
                    # Sent again under the same key: taken once, whatever became of the first.
                    self.retried[f"{action} {type(lost).__name__}"] += 1
                    continue
                if answer.status_code not in (409, 503):
                    break
                self.retried[f"{action} {answer.status_code} {answer.json().get('code')}"] += 1
                if answer.status_code == 409:
                    refused += 1
                await asyncio.sleep(AGAIN_AFTER)
        assert answer.status_code == 200, f"{action}: {answer.status_code} {answer.text}"


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--return-tickets", type=int, default=60, help="full returns per round (60)"
    )
    parser.add_argument(
        "--return-concurrency", type=int, default=20, help="full returns at once (20)"
    )
    parser.add_argument("--return-rounds", type=int, default=2, help="rounds of each (2)")


WARMUP = 5


async def compare_returns(
    stack: Stack, twin_pid: int, *, count: int, concurrency: int, rounds: int
) -> Comparison:
    ours = FullReturn(stack)
    try:
        await ours.tickets.add_buyers(1 + WARMUP + rounds * count)
        shape = await shape_when_ended(stack.temporal, await ours.through())
        twin = Twin(stack.temporal, shape)
        twin_shape = await twin.shape()
        ours_rounds, twin_rounds = await alternate(
            "full return",
            ours.one,
            twin.one,
            meter_for(stack, twin_pid),
            count=count,
            concurrency=concurrency,
            rounds=rounds,
            warmup=WARMUP,
        )
    finally:
        await ours.aclose()
    return Comparison(shape, ours_rounds, twin_rounds, twin_shape, ours.retried)


async def measure(args: argparse.Namespace, stack: Stack) -> list[str]:
    count, concurrency, rounds = args.return_tickets, args.return_concurrency, args.return_rounds
    with twin_worker(stack.temporal_address()) as twin_pid:
        comparison = await compare_returns(
            stack, twin_pid, count=count, concurrency=concurrency, rounds=rounds
        )
    return [
        "## A full return against its bare twin",
        "",
        f"{rounds} rounds of {count} returns, {concurrency} at a time, alternating with as many "
        f"runs of the twin, after a warm-up of {WARMUP} of each. Ours: a `return_refund` "
        "ticket on an order delivered yesterday, through the HTTP API: the buyer opens it; "
        "once it awaits review the merchant approves it; the buyer ships the goods back; the "
        "sandbox courier is told the parcel is delivered (its control API) and sends its "
        "signed webhook to the API; once the ticket awaits inspection the warehouse scans the "
        "parcel in and passes the inspection; the refund is settled at the payment sandbox "
        "(at once); until the workflow has ended. Each party acts once the ticket's row in "
        f"PostgreSQL shows its step is due (all rows waited on read in one query every "
        f"{LOOK_EVERY * 1000:.0f} ms). Requests carry an Idempotency-Key and are sent again "
        "on 503, and an action on 409 while the workflow takes in the step before (sent again: "
        f"{sent_again(comparison.retried)}). The twin: the ticket's history repeated "
        "workflow task by workflow task, as for the simplest ticket above; the courier poll "
        "the ticket abandons is held by the twin until it ends. CPU as above (the sandboxes "
        "not counted).",
        "",
        *comparison_tables(comparison),
    ]


if __name__ == "__main__":
    from bench.__main__ import run_alone

    run_alone(sys.modules[__name__])
