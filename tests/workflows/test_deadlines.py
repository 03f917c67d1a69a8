"""Every deadline of SPEC §3 on the time-skipping test server: nobody acts, time passes, the
ticket's durable timer decides, and the decision is recorded with its reason."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

import contracts as c
from domain.tickets import Actor, TicketStatus, TicketType
from tests.workflows.fakes import (
    AMOUNT,
    FakeProvider,
    Handle,
    approve,
    courier,
    events,
    inspect,
    recorded,
    reship,
    ship_back,
    start,
    statuses,
    until_recorded,
    until_status,
    worker,
)
from workflows.ticket import TicketWorkflow

S = TicketStatus
# Past a deadline: the timer fires at the deadline, the margin only lets the sleep cover it.
MARGIN = timedelta(minutes=1)
RETURN = {"type": TicketType.return_refund, "order_shipped": True, "order_delivered": True}
EXCHANGE = {
    "type": TicketType.exchange,
    "order_shipped": True,
    "order_delivered": True,
    "reason_code": "wrong_size_or_model",
}
REVIEW = timedelta(hours=48)
HIGH = c.RiskAssessment(level="high", reasons=["6 refunded tickets in 90 days"])


def assert_timed_out(
    entered: c.Transition, fired: c.Transition, delay: timedelta, *words: str
) -> None:
    """`entered` started the wait with a deadline of `delay`; `fired` is what the timer did."""
    assert entered.deadline_at is not None and entered.on_timeout
    assert entered.deadline_at - entered.at >= delay
    assert fired.at >= entered.deadline_at
    # The timer fired at the deadline, not whenever something else woke the ticket.
    assert fired.at - entered.deadline_at < timedelta(hours=1)
    assert fired.actor_role is Actor.system
    assert fired.from_status is entered.to_status
    assert fired.version == entered.version + 1
    for word in words:
        assert word in fired.reason


async def refused(call: Any) -> ApplicationError:
    """The IllegalTransition an Update validator answered with."""
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await call
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "IllegalTransition"
    return cause


def late_approval(handle: Handle) -> Any:
    return handle.execute_update(
        TicketWorkflow.approve, c.Approve(actor=Actor.merchant, actor_id="m-1")
    )


async def returned_and_delivered(env: WorkflowEnvironment, handle: Handle) -> None:
    await until_status(env, handle, S.awaiting_merchant_review)
    await approve(handle, service_fee=1500)
    await ship_back(handle)
    await handle.signal(TicketWorkflow.tracking_event, courier("delivered"))
    await until_status(env, handle, S.awaiting_inspection)


# --- merchant review: 48 h -------------------------------------------------------------------


async def test_a_silent_merchant_has_the_return_approved_automatically_after_48_h(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **RETURN)
        await until_status(time_env, handle, S.awaiting_merchant_review)
        await time_env.sleep(timedelta(hours=48) + MARGIN)
        fired = await until_recorded(time_env, provider, "approved_automatically")
        late = await refused(late_approval(handle))

    entered = recorded(provider, "submitted_for_review")
    assert entered.on_timeout == "approve automatically (seller timeout)"
    assert_timed_out(
        entered, fired, timedelta(hours=48), "did not answer within 48 h", "buyer risk low"
    )
    assert fired.to_status is S.awaiting_buyer_return and fired.next_actor is Actor.buyer
    assert fired.deadline_at == fired.at + timedelta(days=7)
    assert not fired.escalated
    # The risk is assessed again when the deadline decides.
    assert provider.assessments == 2
    assert "did not answer within 48 h" in late.message


async def test_a_silent_merchant_has_a_refund_only_ticket_refunded_after_48_h(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(settle_after_polls=1)
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, order_shipped=True, reason_code="damaged_in_transit")
        result = await handle.result()

    assert result.status is S.completed and result.refunded_amount == AMOUNT
    assert statuses(provider)[-2:] == [S.refunding, S.completed]
    fired = recorded(provider, "approved_automatically")
    assert_timed_out(recorded(provider, "submitted_for_review"), fired, REVIEW, "within 48 h")
    assert fired.to_status is S.refunding and fired.granted_amount == AMOUNT


async def test_the_automatic_approval_reads_as_spec_3_words_it(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(settle_after_polls=1)
    async with worker(time_env, provider) as queue:
        await (await start(time_env, queue, order_shipped=True)).result()

    assert (
        "approved automatically: the merchant did not answer within 48 h; buyer risk low"
        in recorded(provider, "approved_automatically").reason
    )


@pytest.mark.parametrize(
    ("overrides", "risk", "blocker"),
    [
        ({}, HIGH, "buyer risk high: 6 refunded tickets in 90 days"),
        ({}, c.RiskAssessment(level="low", watchlisted=True), "buyer on the watchlist"),
        (
            {"reason_code": "not_as_described"},
            c.RiskAssessment(level="low"),
            "disputed reason not_as_described needs manual review",
        ),
        (
            {"quoted_amount": 600000},
            c.RiskAssessment(level="low"),
            "is above the second-approval threshold",
        ),
    ],
    ids=["high_risk", "watchlisted", "disputed_reason", "above_threshold"],
)
async def test_a_silent_merchant_escalates_to_support_instead_of_approving(
    time_env: WorkflowEnvironment,
    overrides: dict[str, Any],
    risk: c.RiskAssessment,
    blocker: str,
) -> None:
    provider = FakeProvider(risk=risk)
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **(RETURN | overrides))
        await until_status(time_env, handle, S.awaiting_merchant_review)
        await time_env.sleep(timedelta(hours=48) + MARGIN)
        fired = await until_recorded(time_env, provider, "escalated_instead_of_auto_approval")
        state = await handle.query(TicketWorkflow.state)
        late = await refused(late_approval(handle))

    entered = recorded(provider, "submitted_for_review")
    assert entered.on_timeout is not None and blocker in entered.on_timeout
    assert_timed_out(entered, fired, timedelta(hours=48), "instead of auto-approval", blocker)
    assert fired.to_status is S.under_arbitration and state["status"] == S.under_arbitration
    assert fired.escalated is True and fired.next_actor is Actor.support
    assert "approved_automatically" not in events(provider)
    assert provider.grants == []
    assert "instead of auto-approval" in late.message


async def test_a_buyer_turning_high_risk_during_the_review_is_escalated_at_the_deadline(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **RETURN)
        await until_status(time_env, handle, S.awaiting_merchant_review)
        provider.risk = HIGH
        await time_env.sleep(timedelta(hours=48) + MARGIN)
        fired = await until_recorded(time_env, provider, "escalated_instead_of_auto_approval")

    entered = recorded(provider, "submitted_for_review")
    assert entered.on_timeout == "approve automatically (seller timeout)"
    assert_timed_out(entered, fired, timedelta(hours=48), "buyer risk high")
    assert fired.to_status is S.under_arbitration and fired.escalated is True
    assert fired.data["risk"]["level"] == "high"


async def test_the_deadlines_of_the_policy_the_ticket_was_opened_under_apply(
    time_env: WorkflowEnvironment,
) -> None:
    """A merchant's own policy: 12 h to review, 3 days to ship back (SPEC §3: configurable)."""
    policy = c.TicketPolicy(
        version="m-1/v3",
        merchant_review=timedelta(hours=12),
        buyer_after_rejection=timedelta(days=7),
        refund_settlement=timedelta(days=7),
        refund_status_poll=timedelta(hours=1),
        second_approval_threshold=500000,
        buyer_return=timedelta(days=3),
        # The buyer ships with a typed number here (tests/workflows/test_return_labels.py).
        return_labels=False,
    )
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **RETURN, policy=policy)
        result = await handle.result()

    assert result.status is S.cancelled
    # The 24 h reminder would fall before the opening: only the 2 h one is sent.
    assert events(provider) == [
        "submitted_for_review",
        "merchant_reminded",
        "approved_automatically",
        "buyer_return_timeout",
    ]
    opened, reminded, approved, cancelled = provider.transitions
    assert opened.deadline_at == opened.at + timedelta(hours=12)
    assert reminded.at >= opened.deadline_at - timedelta(hours=2)
    assert_timed_out(opened, approved, timedelta(hours=12), "did not answer within 12 h")
    assert_timed_out(approved, cancelled, timedelta(days=3), "within 3 days")
    assert approved.deadline_at == approved.at + timedelta(days=3)


# --- reminders: 24 h and 2 h before the review deadline --------------------------------------


async def test_the_merchant_is_reminded_24_h_and_2_h_before_the_review_deadline(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **RETURN)
        await until_status(time_env, handle, S.awaiting_merchant_review)
        await time_env.sleep(timedelta(hours=24) + MARGIN)
        await until_recorded(time_env, provider, "merchant_reminded")
        after_first = await handle.query(TicketWorkflow.state)
        await time_env.sleep(timedelta(hours=22))  # 46 h 1 min after the opening
        while events(provider).count("merchant_reminded") < 2:
            await time_env.sleep(timedelta(seconds=1))
        after_second = await handle.query(TicketWorkflow.state)
        await time_env.sleep(timedelta(hours=2))
        await until_status(time_env, handle, S.awaiting_buyer_return)

    entered = provider.transitions[0]
    assert entered.deadline_at is not None
    assert events(provider) == [
        "submitted_for_review",
        "merchant_reminded",
        "merchant_reminded",
        "approved_automatically",
    ]
    for state in (after_first, after_second):
        assert (state["status"], state["version"]) == (S.awaiting_merchant_review, 1)
    reminders = provider.transitions[1:3]
    for reminder, left in zip(reminders, (timedelta(hours=24), timedelta(hours=2)), strict=True):
        assert entered.deadline_at - left <= reminder.at < entered.deadline_at - left + MARGIN
        assert reminder.from_status is reminder.to_status is S.awaiting_merchant_review
        assert reminder.version == entered.version
        assert reminder.next_actor is Actor.merchant
        assert reminder.deadline_at == entered.deadline_at
        assert reminder.data == {"left_seconds": int(left.total_seconds())}
    assert "24 h left" in reminders[0].reason
    assert "2 h left" in reminders[1].reason
    assert_timed_out(entered, provider.transitions[3], REVIEW, "within 48 h")
    assert [t.seq for t in provider.transitions] == [1, 2, 3, 4]


async def test_a_merchant_answering_after_the_first_reminder_gets_no_second_one(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **RETURN)
        await until_status(time_env, handle, S.awaiting_merchant_review)
        await time_env.sleep(timedelta(hours=30))
        answer = await approve(handle)
        # Past the review deadline: the approval stands, nothing else fires for the review.
        await time_env.sleep(timedelta(hours=20))

    assert answer.status is S.awaiting_buyer_return
    assert events(provider) == ["submitted_for_review", "merchant_reminded", "approved_by_merchant"]


# --- the buyer ships back: 7 days ------------------------------------------------------------


async def test_a_buyer_not_shipping_back_within_7_days_has_the_ticket_cancelled(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **RETURN)
        await until_status(time_env, handle, S.awaiting_merchant_review)
        await approve(handle)
        result = await handle.result()
        # The workflow has ended: Temporal refuses the Update (the API answers 409 from the
        # timeline's last automatic step, the reason asserted below).
        with pytest.raises(RPCError) as late:
            await ship_back(handle)

    assert result.status is S.cancelled and result.refunded_amount == 0
    entered, fired = (
        recorded(provider, "approved_by_merchant"),
        recorded(provider, "buyer_return_timeout"),
    )
    assert entered.on_timeout == "cancel the ticket (buyer timeout)"
    assert_timed_out(entered, fired, timedelta(days=7), "did not ship the goods back within 7 days")
    assert fired.to_status is S.cancelled and fired.next_actor is None
    assert fired.deadline_at is None and fired.on_timeout is None
    assert late.value.status is RPCStatusCode.NOT_FOUND


# --- the return parcel is delivered: 15 days after ship-back ---------------------------------


async def test_a_return_parcel_not_delivered_within_15_days_goes_to_support(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **RETURN)
        await until_status(time_env, handle, S.awaiting_merchant_review)
        await approve(handle)
        await ship_back(handle)
        await time_env.sleep(timedelta(days=15) + MARGIN)
        fired = await until_recorded(time_env, provider, "return_delivery_overdue")
        # The courier's late word no longer moves the ticket; support decides.
        await handle.signal(TicketWorkflow.tracking_event, courier("delivered"))
        late = await refused(inspect(handle))
        state = await handle.query(TicketWorkflow.state)

    entered = recorded(provider, "return_shipped")
    assert entered.on_timeout == "escalate to support (possible loss)"
    assert_timed_out(entered, fired, timedelta(days=15), "within 15 days", "possible loss")
    assert fired.to_status is S.under_arbitration and fired.escalated is True
    assert fired.next_actor is Actor.support
    assert state["status"] == S.under_arbitration
    assert "possible loss" in late.message


# --- warehouse check-in: 10 days after the courier reports delivery --------------------------


async def test_a_return_not_checked_in_within_10_days_is_accepted_and_refunded(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **RETURN)
        await returned_and_delivered(time_env, handle)
        await time_env.sleep(timedelta(days=10) + MARGIN)
        fired = await until_recorded(time_env, provider, "checkin_timeout")
        late = await refused(inspect(handle))
        provider.settle_after_polls = provider.polls + 1
        result = await handle.result()

    entered = recorded(provider, "return_delivered")
    assert entered.on_timeout == "accept the goods and refund automatically"
    assert_timed_out(
        entered, fired, timedelta(days=10), "did not check the parcel in within 10 days"
    )
    # The 10 days run from the courier's delivery, not from the ship-back.
    assert entered.at > recorded(provider, "return_shipped").at
    assert fired.to_status is S.refunding and fired.granted_amount == AMOUNT - 1500
    assert [g.service_fee for g in provider.grants] == [1500]
    assert "did not check the parcel in" in late.message
    assert result.status is S.completed and result.refunded_amount == AMOUNT - 1500


async def test_an_exchange_not_checked_in_within_10_days_is_accepted_for_reshipment(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **EXCHANGE)
        await returned_and_delivered(time_env, handle)
        await time_env.sleep(timedelta(days=10) + MARGIN)
        fired = await until_recorded(time_env, provider, "checkin_timeout")
        late = await refused(inspect(handle))

    assert_timed_out(
        recorded(provider, "return_delivered"), fired, timedelta(days=10), "within 10 days"
    )
    assert fired.to_status is S.awaiting_reship and fired.next_actor is Actor.merchant
    assert fired.deadline_at == fired.at + timedelta(hours=48)
    assert provider.grants == []
    assert "did not check the parcel in" in late.message


async def test_a_high_risk_return_not_checked_in_goes_to_support_instead_of_refunding(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(risk=HIGH)
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **RETURN)
        await returned_and_delivered(time_env, handle)  # the merchant approved by hand
        await time_env.sleep(timedelta(days=10) + MARGIN)
        await until_recorded(time_env, provider, "escalated_instead_of_auto_acceptance")

    fired = recorded(provider, "escalated_instead_of_auto_acceptance")
    assert fired.to_status is S.under_arbitration and fired.escalated is True
    assert fired.next_actor is Actor.support
    assert "did not check the parcel in within 10 days" in fired.reason
    assert "buyer risk high" in fired.reason
    assert provider.grants == []


# --- the buyer after a rejection: 7 days -----------------------------------------------------


async def test_a_rejected_ticket_closes_when_the_buyer_does_nothing_for_7_days(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **RETURN)
        await until_status(time_env, handle, S.awaiting_merchant_review)
        await handle.execute_update(
            TicketWorkflow.reject,
            c.Reject(actor=Actor.merchant, actor_id="m-1", reason_code="used_goods"),
        )
        result = await handle.result()

    assert result.status is S.closed and result.refunded_amount == 0
    entered, fired = (
        recorded(provider, "rejected_by_merchant"),
        recorded(provider, "closed_after_rejection"),
    )
    assert entered.next_actor is Actor.buyer and entered.on_timeout == "close the ticket"
    assert_timed_out(
        entered, fired, timedelta(days=7), "neither escalated nor re-applied within 7 days"
    )
    assert fired.to_status is S.closed and fired.next_actor is None


# --- the merchant resolves a failed inspection: 48 h -----------------------------------------


async def test_an_unresolved_failed_inspection_goes_to_support_after_48_h(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **RETURN)
        await until_status(time_env, handle, S.awaiting_merchant_review)
        await approve(handle)
        await ship_back(handle)
        # The parcel reached the warehouse before the courier reported it delivered.
        await inspect(handle, accepted=1, rejected=1, note="one unit worn")
        await time_env.sleep(timedelta(hours=48) + MARGIN)
        fired = await until_recorded(time_env, provider, "resolve_inspection_timeout")
        late = await refused(
            handle.execute_update(
                TicketWorkflow.resolve_inspection,
                c.ResolveInspection(actor=Actor.merchant, decision="partial_refund", amount=10000),
            )
        )

    entered = recorded(provider, "inspection_failed")
    assert entered.next_actor is Actor.merchant and entered.on_timeout == "escalate to support"
    assert_timed_out(
        entered,
        fired,
        timedelta(hours=48),
        "did not resolve the failed inspection within 48 h",
    )
    assert fired.to_status is S.under_arbitration and fired.escalated is True
    assert fired.next_actor is Actor.support
    assert "did not resolve the failed inspection" in late.message
    assert provider.grants == []


# --- the merchant reships an exchange: 48 h --------------------------------------------------


async def test_a_replacement_not_shipped_within_48_h_goes_to_support(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **EXCHANGE)
        await until_status(time_env, handle, S.awaiting_merchant_review)
        await approve(handle)
        await ship_back(handle)
        await inspect(handle)
        await time_env.sleep(timedelta(hours=48) + MARGIN)
        fired = await until_recorded(time_env, provider, "reship_timeout")
        late = await refused(reship(handle))

    entered = recorded(provider, "inspection_passed")
    assert entered.to_status is S.awaiting_reship and entered.on_timeout == "escalate to support"
    assert_timed_out(
        entered,
        fired,
        timedelta(hours=48),
        "did not ship the replacement within 48 h",
    )
    assert fired.to_status is S.under_arbitration and fired.escalated is True
    assert "did not ship the replacement" in late.message


# --- the buyer confirms receipt: 10 days after reship ----------------------------------------


async def test_a_replacement_not_confirmed_within_10_days_completes_the_exchange(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **EXCHANGE)
        await until_status(time_env, handle, S.awaiting_merchant_review)
        await approve(handle)
        await ship_back(handle)
        await inspect(handle)
        await reship(handle)
        result = await handle.result()

    assert result.status is S.completed and result.refunded_amount == 0
    entered, fired = (
        recorded(provider, "replacement_shipped"),
        recorded(provider, "receipt_timeout"),
    )
    assert entered.next_actor is Actor.buyer and entered.on_timeout == "complete automatically"
    assert_timed_out(
        entered, fired, timedelta(days=10), "did not confirm receipt within 10 days of reshipment"
    )
    assert fired.to_status is S.completed and fired.next_actor is None
    assert provider.grants == []


# --- refund settlement: 7 days pending -------------------------------------------------------
# Refund before shipment: test_refund_before_shipment.py::
# test_a_refund_pending_past_its_deadline_alerts_support_and_keeps_reconciling. Here after a review.


async def test_a_reviewed_refund_pending_for_7_days_alerts_support_and_keeps_reconciling(
    time_env: WorkflowEnvironment,
) -> None:
    # Polled hourly; settles on the 200th poll, i.e. past the 7-day settlement deadline.
    provider = FakeProvider(settle_after_polls=200)
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, order_shipped=True, reason_code="damaged_in_transit")
        await until_status(time_env, handle, S.awaiting_merchant_review)
        await approve(handle)
        result = await handle.result()

    assert result.status is S.completed and result.refunded_amount == AMOUNT
    assert statuses(provider) == [S.awaiting_merchant_review, S.refunding, S.refunding, S.completed]
    entered, fired = (
        recorded(provider, "approved_by_merchant"),
        recorded(provider, "settlement_overdue"),
    )
    assert entered.on_timeout == "alert support, keep reconciling"
    assert entered.deadline_at is not None
    assert entered.deadline_at - entered.at >= timedelta(days=7)
    assert fired.at >= entered.deadline_at
    assert fired.at - entered.deadline_at <= timedelta(hours=1)  # the next hourly poll
    assert fired.from_status is fired.to_status is S.refunding
    assert fired.next_actor is Actor.support
    assert "past its settlement deadline" in fired.reason
    assert provider.polls == 200 and provider.executions == 1
    assert [s.source for s in provider.settlements] == ["poll"]
