"""Two actions at once: exactly one is applied, the other is refused, and the timeline has only
the one that was answered.

A step that has taken an action awaits activities (the grant, the void, the write of its
transition) before the action is recorded; every other Update in that window must be refused
(`action_in_progress`), never answered with the first one's outcome nor handed to the next state.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

import contracts as c
from domain.events import TicketEvent as E
from domain.tickets import Actor, TicketStatus, TicketType
from tests.support import temporal as servers
from tests.workflows.fakes import (
    FakeProvider,
    Handle,
    approve,
    events,
    inspect,
    reship,
    ship_back,
    start,
    ticket_input,
    until_status,
    worker,
)

S = TicketStatus
SHIPPED = {"order_shipped": True, "reason_code": "damaged_in_transit"}
RETURN = {"type": TicketType.return_refund, "order_shipped": True, "order_delivered": True}
EXCHANGE = {**RETURN, "type": TicketType.exchange, "reason_code": "wrong_size_or_model"}
HELD = 10.0


@pytest.fixture(scope="module")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of this module's own: tickets left waiting on the provider's
    settlement keep a shared server from skipping time for the tests that follow."""
    async with servers.time_skipping_server() as env:
        yield env


@dataclass(frozen=True)
class Act:
    """One actor action: the Update's name, its request, and the event its step records."""

    update: str
    request: c.ActorAction
    event: E
    # What the step awaits after taking the action and before the action is recorded.
    awaits: str = ""

    def hold_at(self) -> str:
        return self.awaits or f"{c.RECORD_TRANSITION}:{self.event}"


APPROVE = Act("approve", c.Approve(actor=Actor.merchant, actor_id="m-1"), E.approved_by_merchant)
APPROVE_REFUND = Act(
    "approve", c.Approve(actor=Actor.merchant, actor_id="m-1"), E.approved_by_merchant,
    c.GRANT_REFUND,
)  # fmt: skip
REJECT = Act(
    "reject",
    c.Reject(actor=Actor.merchant, actor_id="m-1", reason_code="used_goods"),
    E.rejected_by_merchant,
)
MERCHANT_ESCALATES = Act(
    "escalate",
    c.Escalate(actor=Actor.merchant, actor_id="m-1", reason="the buyer used the goods"),
    E.escalated_by_merchant,
)
BUYER_ESCALATES = Act(
    "escalate",
    c.Escalate(actor=Actor.buyer, actor_id="b-1", reason="not what was agreed"),
    E.escalated_by_buyer,
)
CANCEL = Act("cancel", c.Cancel(actor=Actor.buyer, actor_id="b-1"), E.cancelled_by_buyer)
SECOND_YES = Act(
    "second_approval",
    c.SecondApproval(actor=Actor.support, actor_id="s-1", approve=True),
    E.second_approval_granted,
)
SECOND_NO = Act(
    "second_approval",
    c.SecondApproval(actor=Actor.support, actor_id="s-1", approve=False, note="no"),
    E.second_approval_declined,
    c.VOID_GRANT,
)
PARTIAL = Act(
    "resolve_inspection",
    c.ResolveInspection(
        actor=Actor.merchant, actor_id="m-1", decision="partial_refund", amount=1000
    ),
    E.inspection_resolved_partial_refund,
    c.GRANT_REFUND,
)
ARBITRATE_REFUND = Act(
    "arbitrate",
    c.Arbitration(actor=Actor.support, actor_id="s-1", decision="refund"),
    E.arbitrated_refund,
    c.GRANT_REFUND,
)
ARBITRATE_REJECT = Act(
    "arbitrate",
    c.Arbitration(actor=Actor.support, actor_id="s-1", decision="reject"),
    E.arbitrated_reject,
)
CONFIRM = Act(
    "confirm_receipt", c.ConfirmReceipt(actor=Actor.buyer, actor_id="b-1"), E.receipt_confirmed
)

Reach = Callable[[WorkflowEnvironment, Handle], Awaitable[Any]]


async def in_review(env: WorkflowEnvironment, handle: Handle) -> None:
    await until_status(env, handle, S.awaiting_merchant_review)


async def awaiting_second_approval(env: WorkflowEnvironment, handle: Handle) -> None:
    await until_status(env, handle, S.awaiting_second_approval)


async def inspection_failed(env: WorkflowEnvironment, handle: Handle) -> None:
    await until_status(env, handle, S.awaiting_merchant_review)
    await approve(handle)
    await ship_back(handle)
    await inspect(handle, accepted=1, rejected=1)


async def under_arbitration(env: WorkflowEnvironment, handle: Handle) -> None:
    await until_status(env, handle, S.awaiting_merchant_review)
    await send(handle, MERCHANT_ESCALATES)


async def replacement_in_transit(env: WorkflowEnvironment, handle: Handle) -> None:
    await until_status(env, handle, S.awaiting_merchant_review)
    await approve(handle)
    await ship_back(handle)
    await inspect(handle)
    await reship(handle)


@dataclass(frozen=True)
class Meeting:
    """A waiting state where two actions (or two actors) meet."""

    name: str
    ticket: dict[str, Any]
    reach: Reach
    first: Act
    second: Act
    provider: dict[str, Any] = field(default_factory=dict)


MEETINGS = [
    Meeting("review approve/reject", SHIPPED, in_review, APPROVE_REFUND, REJECT),
    Meeting("review approve/approve", SHIPPED, in_review, APPROVE_REFUND, APPROVE),
    Meeting("review cancel/approve", SHIPPED, in_review, CANCEL, APPROVE),
    Meeting("review reject/escalate", RETURN, in_review, REJECT, MERCHANT_ESCALATES),
    Meeting("review approve/cancel", RETURN, in_review, APPROVE, CANCEL),
    Meeting(
        "second approval decline/decline",
        {},
        awaiting_second_approval,
        SECOND_NO,
        SECOND_NO,
        {"needs_second_approval": True},
    ),
    Meeting(
        "second approval approve/decline",
        {},
        awaiting_second_approval,
        SECOND_YES,
        SECOND_NO,
        {"needs_second_approval": True},
    ),
    Meeting("failed inspection", RETURN, inspection_failed, PARTIAL, BUYER_ESCALATES),
    Meeting("arbitration refund/reject", SHIPPED, under_arbitration, ARBITRATE_REFUND, ARBITRATE_REJECT),  # noqa: E501
    Meeting("arbitration reject/refund", SHIPPED, under_arbitration, ARBITRATE_REJECT, ARBITRATE_REFUND),  # noqa: E501
    Meeting("replacement in transit", EXCHANGE, replacement_in_transit, CONFIRM, BUYER_ESCALATES),
]  # fmt: skip


async def send(handle: Handle, act: Act) -> c.ActionResult:
    return await handle.execute_update(act.update, act.request, result_type=c.ActionResult)


async def outcome(call: Awaitable[c.ActionResult]) -> c.ActionResult | ApplicationError:
    try:
        return await call
    except WorkflowUpdateFailedError as failed:
        assert isinstance(failed.cause, ApplicationError), failed.cause
        return failed.cause


@asynccontextmanager
async def at(
    env: WorkflowEnvironment, meeting: Meeting
) -> AsyncIterator[tuple[FakeProvider, Handle]]:
    """A ticket brought to the state where the meeting's two actions meet."""
    provider = FakeProvider(**meeting.provider)
    async with worker(env, provider) as queue:
        handle = await start(env, queue, **meeting.ticket)
        await meeting.reach(env, handle)
        yield provider, handle


@pytest.mark.parametrize("meeting", MEETINGS, ids=lambda meeting: meeting.name)
async def test_an_action_sent_while_another_is_applied_is_refused(
    time_env: WorkflowEnvironment, meeting: Meeting
) -> None:
    async with at(time_env, meeting) as (provider, handle):
        before = len(provider.transitions)
        state = await handle.query("state")
        provider.hold_at = meeting.first.hold_at()
        first = asyncio.create_task(send(handle, meeting.first))
        await asyncio.wait_for(provider.holding.wait(), HELD)
        # The first action is taken and not yet recorded: the second one arrives now.
        second = asyncio.create_task(outcome(send(handle, meeting.second)))
        await asyncio.wait({second}, timeout=HELD)
        provider.release.set()
        answered = await first
        refused = await second

        assert isinstance(refused, ApplicationError), (
            f"the second {meeting.second.update} was answered {refused} while the first was "
            "being applied"
        )
        assert refused.type == c.ACTION_IN_PROGRESS
        assert str(meeting.first.request.actor) in refused.message
        assert answered.version == state["version"] + 1
        recorded = events(provider)[before:]
        assert recorded[:1] == [meeting.first.event]
        assert recorded.count(meeting.first.event) == 1
        if meeting.second.event != meeting.first.event:
            assert meeting.second.event not in recorded


@pytest.mark.parametrize("meeting", MEETINGS[:5], ids=lambda meeting: meeting.name)
async def test_two_actions_sent_at_the_same_moment_apply_exactly_one(
    time_env: WorkflowEnvironment, meeting: Meeting
) -> None:
    async with at(time_env, meeting) as (provider, handle):
        before = len(provider.transitions)
        results = await asyncio.gather(
            outcome(send(handle, meeting.first)), outcome(send(handle, meeting.second))
        )
        answered = [r for r in results if isinstance(r, c.ActionResult)]
        refused = [r for r in results if isinstance(r, ApplicationError)]
        assert len(answered) == 1 and len(refused) == 1, results
        assert refused[0].type in (c.ACTION_IN_PROGRESS, c.ILLEGAL_TRANSITION)
        winner = meeting.first if results[0] is answered[0] else meeting.second
        loser = meeting.second if winner is meeting.first else meeting.first
        recorded = events(provider)[before:]
        assert recorded[:1] == [winner.event]
        if loser.event != winner.event:
            assert loser.event not in recorded


async def test_an_action_sent_while_a_reminder_is_recorded_is_applied(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    # One reminder, due a few seconds after the ticket reaches the merchant.
    policy = ticket_input("policy").policy.model_copy(
        update={"review_reminders": [timedelta(hours=48) - timedelta(seconds=3)]}
    )
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **RETURN, policy=policy)
        provider.hold_at = f"{c.RECORD_TRANSITION}:{E.merchant_reminded}"
        await in_review(time_env, handle)
        for _ in range(30):
            if provider.holding.is_set():
                break
            await time_env.sleep(timedelta(seconds=1))
        assert provider.holding.is_set(), events(provider)
        # A reminder changes nothing: the merchant's answer is welcome while it is written.
        answer = asyncio.create_task(outcome(send(handle, APPROVE)))
        await asyncio.sleep(1)
        provider.release.set()
        answered = await answer

        assert isinstance(answered, c.ActionResult), answered
        assert answered.status is S.awaiting_buyer_return
        assert events(provider)[-2:] == [E.merchant_reminded, E.approved_by_merchant]
