"""Bulk actions through HTTP on the dev server: each ticket's action its own Update, its outcome
readable while the run goes, a refusal on one ticket refusing nothing else, and the same bulk
id sent again changing nothing."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

import contracts as c
from activities.bulk_actions import BulkActivities, action_request, update_id
from activities.ticket_updates import send_action
from contracts.actions import ACTION_IN_PROGRESS
from contracts.bulk import BulkAction, BulkBatch, BulkOutcome, BulkRun, BulkTicketResult
from domain.tickets import Actor, TicketStatus
from persistence.bulk import add_run, record_outcome
from persistence.models import BulkRun as BulkRunRow
from persistence.tickets import Scope, find_ticket
from tests.support.shops import new_shop
from tests.support.stack import Stack
from tests.support.tickets import (
    MERCHANT,
    WAREHOUSE,
    Opened,
    act,
    open_for_review,
    read,
    to_state,
)

APPROVED = "approved_by_merchant"


async def _many_for_review(stack: Stack, count: int) -> list[str]:
    gate = asyncio.Semaphore(8)

    async def one() -> str:
        async with gate:
            return (await open_for_review(stack, type="return_refund")).ticket_no

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def _bulk(stack: Stack, label: str, action: str, body: dict[str, Any]) -> httpx.Response:
    async with stack.client(label) as http:
        return await http.post(f"/v1/tickets/bulk/{action}", json=body)


async def _run(stack: Stack, label: str, bulk_id: str, **query: Any) -> dict[str, Any]:
    async with stack.client(label) as http:
        answer = await http.get(f"/v1/tickets/bulk/{bulk_id}", params={"limit": 1000, **query})
    assert answer.status_code == 200, answer.text
    run: dict[str, Any] = answer.json()
    return run


async def _finished(
    stack: Stack, label: str, bulk_id: str, patience: float = 180
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The run once finished, and every reading of it taken on the way, 0.1 s apart."""
    readings = []
    async with asyncio.timeout(patience):
        while True:
            run = await _run(stack, label, bulk_id)
            readings.append(run)
            if run["status"] == "finished":
                return run, readings
            await asyncio.sleep(0.1)


async def _approvals(stack: Stack, ticket_no: str) -> list[str]:
    detail = (await read(stack, MERCHANT, ticket_no)).json()
    return [step["event"] for step in detail["timeline"] if step["event"] == APPROVED]


async def _stored_run(stack: Stack, name: str, tickets: list[str]) -> BulkRun:
    """A bulk approve of `tickets` by merchant m-1001, stored as the API stores one, for its
    batches to be run here rather than by its workflow."""
    run_id = f"bulk:{MERCHANT}:{name}-{uuid.uuid4().hex[:8]}"
    run = BulkRun(
        run_id=run_id,
        action=BulkAction.approve,
        actor=Actor.merchant,
        actor_id="m-1001",
        merchant_id="m-1001",
        fields={"note": "bulk approve"},
        sees_risk=True,
        total=len(tickets),
    )
    async with stack.sessions.begin() as session:
        await add_run(
            session,
            BulkRunRow(
                run_id=run_id,
                owner=MERCHANT,
                bulk_id=run_id.rpartition(":")[2],
                merchant_id="m-1001",
                action="approve",
                fields=run.fields,
                request_hash="0" * 64,
                total=len(tickets),
                status="running",
            ),
            tickets,
        )
    return run


async def test_a_bulk_approve_of_200_tickets_reports_each_one_and_its_progress_while_it_runs(
    stack: Stack,
) -> None:
    reviewed = await _many_for_review(stack, 200)
    rejected = (await to_state(stack, "rejected")).ticket_no
    other_shop = await new_shop(stack, "Another shop")
    missing = f"RT{uuid.uuid4().hex[:12].upper()}"
    foreign_run = await _bulk(
        stack, f"merchant:{other_shop}", "approve", {"ticket_nos": [reviewed[0]]}
    )
    ticket_nos = [*reviewed[:100], rejected, missing, *reviewed[100:]]
    # The other shop's run over one of ours found no ticket of its own and changed nothing.
    assert foreign_run.status_code == 202, foreign_run.text
    other, _ = await _finished(stack, f"merchant:{other_shop}", foreign_run.json()["bulk_id"])
    assert [(r["outcome"], r["code"]) for r in other["results"]] == [("failed", "ticket_not_found")]
    assert await _approvals(stack, reviewed[0]) == []

    bulk_id = f"approve-{uuid.uuid4().hex[:8]}"
    body = {"bulk_id": bulk_id, "ticket_nos": ticket_nos, "note": "bulk approve"}
    started = await _bulk(stack, MERCHANT, "approve", body)
    assert started.status_code == 202, started.text
    assert started.headers["Location"] == f"/v1/tickets/bulk/{bulk_id}"
    assert started.json()["total"] == 202
    run, readings = await _finished(stack, MERCHANT, bulk_id)

    # Progress was readable while it ran: readings between none and all, counts only growing.
    under_way = [r for r in readings if r["status"] == "running" and 0 < r["done"] < 200]
    assert under_way, [(r["done"], r["failed"]) for r in readings]
    seen = [r["done"] + r["failed"] for r in readings]
    assert seen == sorted(seen), seen

    assert (run["done"], run["failed"], run["pending"]) == (200, 2, 0), run
    results = {r["ticket_no"]: r for r in run["results"]}
    assert [r["ticket_no"] for r in run["results"]] == ticket_nos
    for ticket_no in reviewed:
        assert results[ticket_no]["outcome"] == "done", results[ticket_no]
        assert results[ticket_no]["status"] == "awaiting_buyer_return", results[ticket_no]
    assert (results[rejected]["outcome"], results[rejected]["code"]) == (
        "failed",
        "illegal_transition",
    )
    assert "rejected" in results[rejected]["message"], results[rejected]
    assert (results[missing]["code"], results[missing]["status"]) == ("ticket_not_found", None)
    failed = await _run(stack, MERCHANT, bulk_id, outcome="failed")
    assert [r["ticket_no"] for r in failed["results"]] == [rejected, missing]

    # Each ticket took the approval as its merchant's.
    sample = (await read(stack, MERCHANT, reviewed[-1])).json()
    step = next(s for s in sample["timeline"] if s["event"] == APPROVED)
    assert (step["actor_role"], step["actor_id"]) == ("merchant", "m-1001"), step
    before = {no: (await read(stack, MERCHANT, no)).json()["version"] for no in reviewed[:20]}

    # The same bulk id and body again: the same run, nothing applied a second time.
    again = await _bulk(stack, MERCHANT, "approve", body)
    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (again.json()["done"], again.json()["failed"]) == (200, 2)
    await asyncio.sleep(1)
    for ticket_no, version in before.items():
        assert await _approvals(stack, ticket_no) == [APPROVED]
        assert (await read(stack, MERCHANT, ticket_no)).json()["version"] == version
    assert Counter(r["outcome"] for r in (await _run(stack, MERCHANT, bulk_id))["results"]) == {
        "done": 200,
        "failed": 2,
    }

    # The same id with another body is refused, and the run is not the other merchant's.
    reused = await _bulk(stack, MERCHANT, "approve", {**body, "note": "another note"})
    assert (reused.status_code, reused.json()["code"]) == (409, "bulk_id_reused")
    async with stack.client(f"merchant:{other_shop}") as http:
        foreign = await http.get(f"/v1/tickets/bulk/{bulk_id}")
    assert (foreign.status_code, foreign.json()["code"]) == (404, "bulk_not_found")


async def test_a_refusal_on_one_ticket_of_a_bulk_reject_refuses_nothing_else(
    stack: Stack,
) -> None:
    first, second = await _many_for_review(stack, 2)
    # The merchant approved the first one on its own just before.
    approved = await act(stack, MERCHANT, first, "approve", {})
    assert approved.status_code == 200, approved.text
    started = await _bulk(
        stack, MERCHANT, "reject", {"ticket_nos": [first, second], "reason_code": "used_goods"}
    )
    assert started.status_code == 202, started.text
    run, _ = await _finished(stack, MERCHANT, started.json()["bulk_id"])
    outcomes = [(r["ticket_no"], r["outcome"], r["status"], r["code"]) for r in run["results"]]
    assert outcomes == [
        (first, "failed", None, "illegal_transition"),
        (second, "done", "rejected", None),
    ]
    assert (await read(stack, MERCHANT, first)).json()["status"] == "awaiting_buyer_return"


async def test_a_warehouse_passes_the_inspection_of_its_returns_in_one_run(stack: Stack) -> None:
    parcels: list[Opened] = [await to_state(stack, "return_in_transit") for _ in range(3)]
    reviewed = await open_for_review(stack)
    ticket_nos = [p.ticket_no for p in parcels] + [reviewed.ticket_no]
    started = await _bulk(stack, WAREHOUSE, "inspection-pass", {"ticket_nos": ticket_nos})
    assert started.status_code == 202, started.text
    run, _ = await _finished(stack, WAREHOUSE, started.json()["bulk_id"])
    assert [r["outcome"] for r in run["results"]] == ["done", "done", "done", "failed"], run
    # A return not sent to this warehouse yet is none of its business.
    assert run["results"][3]["code"] == "ticket_not_found"
    for parcel in parcels:
        detail = (await read(stack, MERCHANT, parcel.ticket_no)).json()
        assert detail["inspection"]["passed"] is True, detail["inspection"]
        accepted = {line["line_id"]: line["accepted"] for line in detail["inspection"]["lines"]}
        assert accepted == {"L1": 2, "L2": 1}


async def test_bad_bulk_requests_are_refused_and_start_nothing(stack: Stack) -> None:
    too_many = [f"RT{n:010d}" for n in range(1001)]
    answers = {
        "too many": await _bulk(stack, MERCHANT, "approve", {"ticket_nos": too_many}),
        "twice": await _bulk(stack, MERCHANT, "approve", {"ticket_nos": ["RT1", "RT1"]}),
        "none": await _bulk(stack, MERCHANT, "approve", {"ticket_nos": []}),
        "no reason": await _bulk(stack, MERCHANT, "reject", {"ticket_nos": ["RT1"]}),
        "bad id": await _bulk(
            stack, MERCHANT, "approve", {"ticket_nos": ["RT1"], "bulk_id": "a b"}
        ),
    }
    for what, answer in answers.items():
        assert answer.status_code == 422, (what, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json"), what
    assert "listed twice" in answers["twice"].text
    forbidden = {
        "a warehouse approving": await _bulk(stack, WAREHOUSE, "approve", {"ticket_nos": ["RT1"]}),
        "a merchant inspecting": await _bulk(
            stack, MERCHANT, "inspection-pass", {"ticket_nos": ["RT1"]}
        ),
        "support rejecting": await _bulk(
            stack, "support:s-1", "reject", {"ticket_nos": ["RT1"], "reason_code": "x"}
        ),
    }
    for what, answer in forbidden.items():
        assert (answer.status_code, answer.json()["code"]) == (403, "forbidden_role"), what
    unknown = await _bulk(
        stack, MERCHANT, "approve", {"ticket_nos": ["RT1"], "warehouse_id": "wh-nowhere"}
    )
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_warehouse")


async def test_a_batch_retried_after_its_worker_died_acts_once_on_each_ticket(
    stack: Stack,
) -> None:
    """The first attempt approved two tickets and died having stored the first's outcome only;
    the retry sends the second again under the same Update id and gets the first answer back."""
    tickets = await _many_for_review(stack, 3)
    run = await _stored_run(stack, "crash", tickets)
    run_id = run.run_id
    activities = BulkActivities(stack.sessions, stack.temporal.client)
    async with stack.sessions() as session:
        first = await find_ticket(session, tickets[0], Scope(merchant_id="m-1001"))
        second = await find_ticket(session, tickets[1], Scope(merchant_id="m-1001"))
        assert first is not None and second is not None
        sent = [action_request(run, ticket) for ticket in (first, second)]
    answers = [
        await send_action(
            stack.temporal.client,
            ticket_no,
            "approve",
            request,
            update_id=update_id(run_id, ticket_no),
            rpc_timeout=timedelta(seconds=30),
        )
        for ticket_no, request in zip(tickets[:2], sent, strict=True)
    ]
    async with stack.sessions.begin() as session:
        await record_outcome(
            session,
            run_id,
            0,
            BulkTicketResult(
                ticket_no=tickets[0],
                outcome=BulkOutcome.done,
                status=answers[0].status,
                version=answers[0].version,
            ),
        )

    counts = await ActivityEnvironment().run(
        activities.apply_bulk_batch, BulkBatch(run=run, offset=0, size=3)
    )

    # The retry sent only the two without an outcome, and neither was refused as approved.
    assert (counts.done, counts.failed) == (2, 0), counts
    view = await _run(stack, MERCHANT, run_id.rpartition(":")[2])
    results = {r["ticket_no"]: r for r in view["results"]}
    assert results[tickets[1]]["version"] == answers[1].version, results[tickets[1]]
    for ticket_no in tickets:
        assert results[ticket_no]["outcome"] == "done", results[ticket_no]
        assert await _approvals(stack, ticket_no) == [APPROVED]


@workflow.defn(name="BusyTicket")
class BusyTicket:
    """Stands in for a ticket's workflow that is applying another step: it refuses an approve
    with `action_in_progress` until it is told it is free, then takes it."""

    def __init__(self) -> None:
        self._free = False
        self._approved = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self._approved)

    @workflow.signal
    def free(self) -> None:
        self._free = True

    @workflow.update(name="approve")
    async def approve(self, request: c.Approve) -> c.ActionResult:
        self._approved = True
        return c.ActionResult(status=TicketStatus.refunding, version=7)

    @approve.validator
    def _check_approve(self, request: c.Approve) -> None:
        if not self._free:
            raise ApplicationError("a deadline's outcome is being applied", type=ACTION_IN_PROGRESS)


async def test_a_ticket_busy_when_the_run_reaches_it_is_asked_again_and_fails_only_if_it_stays_busy(
    stack: Stack,
) -> None:
    tickets = await _many_for_review(stack, 2)
    run = await _stored_run(stack, "busy", tickets)
    queue = f"busy-{uuid.uuid4().hex[:8]}"
    client = stack.temporal.client
    busy = []
    for ticket_no in tickets:
        # The ticket's own workflow gives way to one that stays busy (same id, a new run).
        await client.get_workflow_handle(ticket_no).terminate("replaced by a busy stand-in")
        busy.append(await client.start_workflow(BusyTicket.run, id=ticket_no, task_queue=queue))
    waits = (0.3, 0.3, 0.3, 0.3)
    activities = BulkActivities(stack.sessions, client, busy_waits=waits)

    async def free_the_first_soon() -> None:
        await asyncio.sleep(0.5)  # after its first refusal, before its last try
        await busy[0].signal(BusyTicket.free)

    async with Worker(
        client,
        task_queue=queue,
        workflows=[BusyTicket],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        freeing = asyncio.create_task(free_the_first_soon())
        started = time.monotonic()
        counts = await ActivityEnvironment().run(
            activities.apply_bulk_batch, BulkBatch(run=run, offset=0, size=2)
        )
        took = time.monotonic() - started
        await freeing

    # The first ticket, free again within the waits, was approved; the second, busy all along,
    # failed only after every wait, with the refusal a single approve would have got.
    assert (counts.done, counts.failed) == (1, 1), counts
    view = await _run(stack, MERCHANT, run.run_id.rpartition(":")[2])
    results = {r["ticket_no"]: r for r in view["results"]}
    assert results[tickets[0]]["outcome"] == "done", results[tickets[0]]
    assert results[tickets[0]]["version"] == 7, results[tickets[0]]
    assert results[tickets[1]]["outcome"] == "failed", results[tickets[1]]
    assert results[tickets[1]]["code"] == "action_in_progress", results[tickets[1]]
    assert took >= sum(waits), f"the busy ticket was given up after {took:.1f} s"
    await busy[1].terminate("the test is over")
