"""Timers that fall due while no worker runs (the worker or Temporal was down): each fires once
the engine is back, a reminder says the time really left or is not sent once the deadline has
passed, and a deadline's outcome says how late it was applied.

On the time-skipping server the clock skips only while nothing is pending: once a timer has
fired with no worker to run its workflow task, the clock goes at wall speed until a worker takes
the task. So the outage is a few real seconds, placed just before the timers it spans.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import contracts as c
from domain.tickets import TicketStatus, TicketType
from tests.support import temporal as servers
from tests.workflows.fakes import (
    FakeProvider,
    Handle,
    events,
    recorded,
    start,
    ticket_input,
    until_recorded,
    until_status,
)
from workflows.ticket import TicketWorkflow

S = TicketStatus
RETURN = {"type": TicketType.return_refund, "order_shipped": True, "order_delivered": True}
# The outage goes on this long past the last timer it spans, in real seconds.
OUTAGE_PAST = timedelta(seconds=4)
APPLIED_LATE = re.compile(
    r"\(applied (\d+) s late: the engine was down or too busy to act on time\)$"
)


def reminded(before: timedelta) -> c.TicketPolicy:
    """The test policy (48 h review), with one reminder `before` the deadline."""
    return ticket_input("AS-policy").policy.model_copy(update={"review_reminders": [before]})


@pytest.fixture(scope="module")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of this module's own: its tickets wait out outages with no worker,
    and a shared server whose tasks nobody polls can stop skipping for the tests that follow."""
    async with servers.time_skipping_server() as env:
        yield env


@asynccontextmanager
async def running(
    env: WorkflowEnvironment, provider: FakeProvider, queue: str
) -> AsyncIterator[None]:
    """A worker on `queue` until the block ends; its tickets go on without it. It caches no
    workflow, so its leaving leaves no sticky queue for the next worker to wait out."""
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[TicketWorkflow],
        activities=provider.activities(),
        max_cached_workflows=0,
    ):
        yield


async def sleep_until(env: WorkflowEnvironment, moment: datetime) -> None:
    await env.sleep(moment - await env.get_current_time())


async def opened_for_review(
    env: WorkflowEnvironment, provider: FakeProvider, queue: str, policy: c.TicketPolicy
) -> tuple[Handle, datetime]:
    """A return in merchant review; its review deadline."""
    handle = await start(env, queue, **RETURN, policy=policy)
    await until_status(env, handle, S.awaiting_merchant_review)
    deadline = recorded(provider, "submitted_for_review").deadline_at
    assert deadline is not None
    return handle, deadline


async def test_a_reminder_and_a_deadline_missed_while_no_worker_ran_apply_the_deadline_once(
    time_env: WorkflowEnvironment,
) -> None:
    provider, queue = FakeProvider(), f"wf-late-{uuid.uuid4().hex[:8]}"
    async with running(time_env, provider, queue):
        handle, deadline = await opened_for_review(
            time_env, provider, queue, reminded(timedelta(seconds=3))
        )
        await sleep_until(time_env, deadline - timedelta(seconds=10))
    # Nobody runs the ticket over the reminder's moment and the deadline.
    await sleep_until(time_env, deadline + OUTAGE_PAST)
    try:
        async with running(time_env, provider, queue):
            fired = await until_recorded(time_env, provider, "approved_automatically")
            await until_status(time_env, handle, S.awaiting_buyer_return)
    finally:
        await handle.terminate(reason="the test is over")

    # The reminder came too late to be of use: not sent, and nobody was told.
    assert events(provider) == ["submitted_for_review", "approved_automatically"]
    assert [batch.seq for batch in provider.notified] == [1, 2]
    # The deadline fired once, as late as the outage made it, and says so.
    late = fired.data["late_by_seconds"]
    assert OUTAGE_PAST.total_seconds() - 1 <= late < 60, fired.data
    assert fired.at - deadline >= timedelta(seconds=late)
    told = APPLIED_LATE.search(fired.reason)
    assert told is not None and int(told[1]) == late, fired.reason
    assert fired.reason.startswith("approved automatically: the merchant did not answer")
    assert fired.to_status is S.awaiting_buyer_return


async def test_a_reminder_sent_late_says_the_time_really_left(
    time_env: WorkflowEnvironment,
) -> None:
    provider, queue = FakeProvider(), f"wf-late-{uuid.uuid4().hex[:8]}"
    before = timedelta(seconds=12)
    async with running(time_env, provider, queue):
        handle, deadline = await opened_for_review(time_env, provider, queue, reminded(before))
        await sleep_until(time_env, deadline - before - timedelta(seconds=2))
    # Nobody runs the ticket at the reminder's moment; a worker is back before the deadline.
    await sleep_until(time_env, deadline - before + OUTAGE_PAST)
    try:
        async with running(time_env, provider, queue):
            reminder = await until_recorded(time_env, provider, "merchant_reminded")
            fired = await until_recorded(time_env, provider, "approved_automatically")
    finally:
        await handle.terminate(reason="the test is over")

    left, late = reminder.data["left_seconds"], reminder.data["late_by_seconds"]
    assert OUTAGE_PAST.total_seconds() - 1 <= late < before.total_seconds()
    assert left == int((deadline - reminder.at).total_seconds())
    assert before.total_seconds() - 1 <= left + late <= before.total_seconds()
    assert reminder.reason == (
        f"reminder to merchant m-1: {left} s left to review the ticket "
        f"(sent {late} s late: the engine was down or too busy to act on time)"
    )
    # The deadline itself fired on time: nothing late about it.
    assert events(provider) == [
        "submitted_for_review",
        "merchant_reminded",
        "approved_automatically",
    ]
    assert "late_by_seconds" not in fired.data and "late" not in fired.reason
    assert fired.at - deadline < timedelta(seconds=1)


async def test_a_settlement_deadline_missed_while_no_worker_ran_alerts_support_once_saying_how_late(
    time_env: WorkflowEnvironment,
) -> None:
    provider, queue = FakeProvider(), f"wf-late-{uuid.uuid4().hex[:8]}"  # pending for ever
    async with running(time_env, provider, queue):
        # Refunded at once (nothing shipped), then polled hourly: the third poll finds it overdue.
        policy = ticket_input("AS-policy").policy.model_copy(
            update={"refund_settlement": timedelta(hours=3)}
        )
        handle = await start(time_env, queue, policy=policy)
        await until_status(time_env, handle, S.refunding)
        overdue = recorded(provider, "approved_by_rule").deadline_at
        assert overdue is not None
        await sleep_until(time_env, overdue - timedelta(minutes=30))
    await sleep_until(time_env, overdue + OUTAGE_PAST)
    try:
        async with running(time_env, provider, queue):
            fired = await until_recorded(time_env, provider, "settlement_overdue")
            # Reconciliation goes on; the alert is not given twice.
            await time_env.sleep(timedelta(hours=3))
    finally:
        await handle.terminate(reason="the test is over")

    assert events(provider).count("settlement_overdue") == 1
    late = fired.data["late_by_seconds"]
    assert OUTAGE_PAST.total_seconds() - 1 <= late < 60, fired.data
    told = APPLIED_LATE.search(fired.reason)
    assert told is not None and int(told[1]) == late, fired.reason
    assert fired.to_status is S.refunding and fired.at - overdue >= timedelta(seconds=late)
