"""The crash window of the read model: a worker killed between the database write of a step and
Temporal learning of it leaves a timeline, a ticket row and sent notifications that match the
workflow's history.

The worker runs as an OS process of its own (`tests.support.dying_worker`) that SIGKILLs itself
right after `record_transition` committed the merchant's approval. The merchant review deadline
is short and passes while no worker runs; then a normal `python -m worker` takes over. Had the
write been made inside the workflow task (a local activity), the retried task would find the
deadline passed, refuse the approval and approve automatically, while the timeline and the
buyer's messages kept the approval no history holds.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import select
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.exceptions import ApplicationError

import contracts as c
from api.app import create_app
from domain.events import TicketEvent
from domain.tickets import Actor, TicketStatus
from persistence.models import Merchant, Notification, Ticket, TimelineEntry, Warehouse
from persistence.notifications import DELIVERED, SENT
from tests.support.dying_worker import DIE_AFTER_RECORDING, DYING
from tests.support.orders import application, line, new_order_id, order_body, put_order
from tests.support.servers import serving
from tests.support.stack import SANDBOX_KEY, Stack
from tests.support.worker_process import tail, worker_env, worker_process
from workflows.ticket import TicketWorkflow

T = TypeVar("T")
SUPPORT = "support:s-1"
REVIEW = timedelta(seconds=8)
# Long enough for the retried workflow task to start after the deadline, never before it.
PAST_THE_DEADLINE = timedelta(seconds=3)
TOLD = (SENT, DELIVERED)


async def _until(
    what: str, read: Callable[[], Awaitable[T]], done: Callable[[T], bool], seconds: float
) -> T:
    """Read until `done` holds, at most `seconds`; fails saying what was last read."""
    seen: T | None = None
    with suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while True:
                seen = await read()
                if done(seen):
                    return seen
                await asyncio.sleep(0.2)
    raise AssertionError(f"{what} within {seconds} s; last seen: {seen!r}")


async def _shop_with_a_short_review(stack: Stack) -> str:
    """A merchant of its own, so its short review deadline touches no other test's tickets."""
    merchant_id = f"m-c{uuid.uuid4().hex[:8]}"
    async with stack.sessions.begin() as session:
        session.add(Merchant(merchant_id=merchant_id, name="Crash window shop"))
        await session.flush()
        session.add(
            Warehouse(
                warehouse_id=f"wh-{merchant_id}",
                merchant_id=merchant_id,
                name="Returns",
                address="1 Dock Road",
            )
        )
    async with stack.client(SUPPORT) as support:
        changed = await support.put(
            f"/v1/merchants/{merchant_id}/policy",
            # No reminders: nothing but the merchant and the deadline acts on the review.
            json={"merchant_review": REVIEW.total_seconds(), "review_reminders": []},
        )
    assert changed.status_code == 200, changed.text
    return merchant_id


async def _open_for_review(stack: Stack, api_url: str, merchant: str) -> str:
    """A return of a recently delivered order, opened through this test's own API."""
    label = await stack.new_buyer(email=f"{uuid.uuid4().hex[:8]}@buyers.example")
    delivered = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    order = order_body(
        [line("L1", 1, 1500)],
        buyer=label.split(":")[1],
        merchant=merchant,
        status="delivered",
        delivered_at=delivered,
    )
    order_id = new_order_id()

    def client(principal: str) -> httpx.AsyncClient:
        key = stack.keys[principal]
        return httpx.AsyncClient(
            base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )

    async with client("platform:shop") as platform, client(label) as buyer:
        await put_order(platform, order_id, order)
        created = await buyer.post(
            "/v1/tickets", json=application(order_id, ("L1", 1), type="return_refund")
        )
    assert created.status_code == 201, created.text
    return str(created.json()["ticket_no"])


async def _approve(handle: WorkflowHandle[Any, Any], merchant: str) -> str:
    """The merchant's approval, sent again while the ticket is still being opened; how it ended
    (it may never be answered: the worker dies)."""
    while True:
        try:
            await handle.start_update(
                TicketWorkflow.approve,
                c.Approve(actor=Actor.merchant, actor_id=merchant),
                wait_for_stage=WorkflowUpdateStage.ACCEPTED,
            )
        except WorkflowUpdateFailedError as refused:
            cause = refused.cause
            if isinstance(cause, ApplicationError) and cause.type == c.ACTION_IN_PROGRESS:
                await asyncio.sleep(0.1)
                continue
            return f"refused: {cause}"
        return "accepted"


async def _ticket(stack: Stack, ticket_no: str) -> Ticket | None:
    async with stack.sessions() as session:
        return await session.get(Ticket, ticket_no)


async def _timeline(stack: Stack, ticket_no: str) -> list[tuple[int, str]]:
    async with stack.sessions() as session:
        rows = await session.execute(
            select(TimelineEntry.seq, TimelineEntry.event)
            .where(TimelineEntry.ticket_no == ticket_no)
            .order_by(TimelineEntry.seq)
        )
        return [(seq, event) for seq, event in rows.all()]


async def _told(stack: Stack, ticket_no: str) -> list[tuple[int, str, str, str]]:
    """(seq, event, recipient role, channel) of every notification that went out."""
    async with stack.sessions() as session:
        rows = await session.execute(
            select(
                Notification.event_key,
                Notification.event,
                Notification.recipient_role,
                Notification.channel,
            )
            .where(Notification.ticket_no == ticket_no, Notification.status.in_(TOLD))
            .order_by(Notification.notification_id)
        )
        return [
            (int(key.rsplit(":", 1)[1]), event, role, channel)
            for key, event, role, channel in rows.all()
        ]


async def _settled(
    stack: Stack, handle: WorkflowHandle[Any, Any], status: TicketStatus
) -> dict[str, Any]:
    """The workflow's state once it is in `status`, its row holds that version and the workflow
    is idle: no activity it started (the record, the notifications) and no workflow task to
    take their results is pending."""

    async def read() -> tuple[dict[str, Any], int | None, bool]:
        state = await handle.query(TicketWorkflow.state)
        row = await _ticket(stack, handle.id)
        described = (await handle.describe()).raw_description
        idle = not described.pending_activities and not described.HasField("pending_workflow_task")
        return state, row.version if row else None, idle

    def done(seen: tuple[dict[str, Any], int | None, bool]) -> bool:
        state, version, idle = seen
        return state["status"] == status and version == state["version"] and idle

    state, _, _ = await _until(f"{handle.id} settled in {status}", read, done, 40)
    return state


def _accepted_approvals(events: Sequence[HistoryEvent]) -> int:
    return sum(
        1
        for event in events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        and event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        == "approve"
    )


def _timers_fired(events: Sequence[HistoryEvent]) -> int:
    return sum(1 for event in events if event.event_type == EventType.EVENT_TYPE_TIMER_FIRED)


def _at(value: str | datetime | None) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


async def test_a_worker_killed_after_recording_an_approval_leaves_the_read_model_as_the_history(
    stack: Stack, tmp_path: Path
) -> None:
    queue = f"crash-record-{uuid.uuid4().hex[:8]}"
    # This test's own API starts tickets on this test's own task queue: only its workers run them.
    api = create_app(
        stack.settings.model_copy(update={"temporal_task_queue": queue}),
        temporal=stack.temporal.client,
    )
    merchant = await _shop_with_a_short_review(stack)
    env = worker_env(stack, queue, tmp_path) | {
        "PAYMENT_SANDBOX_URL": stack.sandbox_url,
        "PAYMENT_SANDBOX_API_KEY": SANDBOX_KEY,
    }
    dying_log, second_log = tmp_path / "dying-worker.log", tmp_path / "worker.log"
    dying_env = env | {DIE_AFTER_RECORDING: TicketEvent.approved_by_merchant}
    approval: asyncio.Task[str] | None = None

    try:
        async with (
            serving(api) as api_url,
            worker_process(dying_env, dying_log, "tests.support.dying_worker") as dying,
        ):
            ticket_no = await _open_for_review(stack, api_url, merchant)
            handle = stack.temporal.client.get_workflow_handle(ticket_no)
            in_review = await _until(
                f"{ticket_no} in merchant review",
                lambda: _ticket(stack, ticket_no),
                lambda row: row is not None and row.status == TicketStatus.awaiting_merchant_review,
                20,
            )
            approval = asyncio.create_task(_approve(handle, merchant))
            try:
                async with asyncio.timeout(20):
                    killed = await dying.wait()
            except TimeoutError:
                raise AssertionError(f"the worker did not die:\n{tail(dying_log)}") from None
            timeline_in_the_window = await _timeline(stack, ticket_no)

        assert in_review is not None and in_review.deadline_at is not None
        left = in_review.deadline_at + PAST_THE_DEADLINE - datetime.now(UTC)
        await asyncio.sleep(max(left.total_seconds(), 0))
        async with worker_process(env, second_log):
            try:
                state = await _settled(stack, handle, TicketStatus.awaiting_buyer_return)
            except AssertionError as failure:
                log = f"--- {second_log.name}:\n{tail(second_log)}"
                raise AssertionError(f"{failure}\n{log}") from None
            history = (await handle.fetch_history()).events
            timeline = await _timeline(stack, ticket_no)
            row = await _ticket(stack, ticket_no)
            told = await _told(stack, ticket_no)
    finally:
        if approval is not None:
            approval.cancel()
            with suppress(BaseException):
                await approval

    # The window: the approval was committed to the database, and the worker died right there.
    assert killed == -signal.SIGKILL, tail(dying_log)
    assert f"{DYING} {TicketEvent.approved_by_merchant}" in tail(dying_log)
    assert TicketEvent.approved_by_merchant in {event for _, event in timeline_in_the_window}

    approved_in_history = _accepted_approvals(history) == 1
    what_happened = (
        f"history: {_accepted_approvals(history)} accepted approve Update(s), "
        f"{_timers_fired(history)} timer(s) fired; timeline: {timeline}; told: {told}"
    )
    # The review ended one way only: by the merchant's approval or by its deadline.
    assert approved_in_history != (_timers_fired(history) == 1), what_happened
    # (a) The timeline shows the approval the history holds, and only that one.
    events = [event for _, event in timeline]
    assert (TicketEvent.approved_by_merchant in events) == approved_in_history, what_happened
    assert (TicketEvent.approved_automatically in events) == (not approved_in_history), (
        what_happened
    )
    assert len({seq for seq, _ in timeline}) == len(timeline) == timeline[-1][0]
    # (b) The ticket row is the workflow's state.
    assert row is not None
    assert (row.status, row.version, row.next_actor, row.on_timeout) == (
        state["status"],
        state["version"],
        state["next_actor"],
        state["on_timeout"],
    ), what_happened
    assert row.deadline_at == _at(state["deadline_at"]), what_happened
    # (c) Everything sent belongs to a recorded step, and the buyer heard of the history's step.
    assert told, what_happened
    assert {(seq, event) for seq, event, _, _ in told} <= set(timeline), what_happened
    decided = (
        TicketEvent.approved_by_merchant
        if approved_in_history
        else TicketEvent.approved_automatically
    )
    to_buyer = {event for _, event, role, _ in told if role == "buyer"}
    assert decided in to_buyer, what_happened
    # Besides: the opening, and the return label the approval asked the courier for.
    label = {TicketEvent.return_label_issued, TicketEvent.return_label_failed}
    assert (to_buyer - {decided}) <= {TicketEvent.submitted_for_review} | label, what_happened
