"""`python -m tests.workflows.record_histories`: record the histories the replay test checks.

Run it when a flow is added or deliberately changed (behind `workflow.patched`), and commit the
JSON files: they stand for tickets already running in production. A history already recorded is
kept as it is (it stands for tickets started under older code); delete its file to record it again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

import contracts as c
from domain.text import refuse_unstorable
from domain.tickets import Actor, TicketStatus, TicketType
from tests.support.temporal import register_search_attributes, test_server_path
from tests.workflows import service_histories
from tests.workflows import test_exchanges as exchanges
from tests.workflows.fakes import (
    LABEL_TRACKING,
    FakeProvider,
    approve,
    courier,
    inspect,
    new_ticket_no,
    recorded,
    reopened_after_reversal,
    reship,
    ship_back,
    start,
    ticket_input,
    until_status,
    worker,
)
from tests.workflows.ruled import rule, ruled
from tests.workflows.test_late_timers import running
from workflows.refund_steps import DIFFERENCE_DECLINED_RESHIPS
from workflows.return_parcel import POLL_BY_RETRIES
from workflows.review_steps import NO_REMINDER_PAST_THE_DEADLINE
from workflows.ticket import TicketWorkflow
from workflows.ticket_record import UNSTORABLE_STEP_TO_SUPPORT

HISTORIES = Path(__file__).with_name("histories")
AFTER_COMMIT = "_after_commit"
# Flows whose steps are written once the task that decided them is committed (one per context).
RECORDED_AFTER_COMMIT = (
    "refund_before_shipment_polled",
    "second_approval_declined",
    "refund_after_shipment_approved",
    "review_timeout_auto_approved",
    "rejected_escalated_arbitrated",
    "return_refunded_after_inspection",
    "return_inspection_failed_partial_refund",
    "exchange_completed",
)
# Patched paths taken only when something goes wrong, and the history that takes each.
PATCHED_PATHS = {
    UNSTORABLE_STEP_TO_SUPPORT: "rejected_with_unstorable_note_for_support",
    NO_REMINDER_PAST_THE_DEADLINE: "review_reminder_missed_past_the_deadline",
    POLL_BY_RETRIES: "return_refunded_poll_stopped",
    DIFFERENCE_DECLINED_RESHIPS: "exchange_cheaper_difference_declined_reshipped",
}
Scenario = Callable[
    [WorkflowEnvironment, WorkflowHandle[TicketWorkflow, c.TicketResult]], Awaitable[None]
]


async def _webhook(
    env: WorkflowEnvironment, handle: WorkflowHandle[TicketWorkflow, c.TicketResult]
) -> None:
    await asyncio.sleep(1)
    await handle.signal(
        TicketWorkflow.payment_event,
        c.PaymentSignal(
            event_id="evt_1",
            idempotency_key=f"{handle.id}-R1",
            provider_refund_id="re_1",
            status="succeeded",
        ),
    )


async def _second_approval(approve: bool) -> Scenario:
    async def decide(
        env: WorkflowEnvironment, handle: WorkflowHandle[TicketWorkflow, c.TicketResult]
    ) -> None:
        await until_status(env, handle, TicketStatus.awaiting_second_approval)
        await handle.execute_update(
            TicketWorkflow.second_approval, c.SecondApproval(approve=approve, note="recorded")
        )

    return decide


async def _nothing(
    env: WorkflowEnvironment, handle: WorkflowHandle[TicketWorkflow, c.TicketResult]
) -> None:
    return None


Handle = WorkflowHandle[TicketWorkflow, c.TicketResult]
REVIEWED = {"type": TicketType.refund_only, "order_shipped": True}
RETURN = {"type": TicketType.return_refund, "order_shipped": True, "order_delivered": True}
EXCHANGE = {**RETURN, "type": TicketType.exchange}
# A return whose buyer ships with the courier's prepaid label.
LABELLED = {
    **RETURN,
    "policy": ticket_input("policy").policy.model_copy(update={"return_labels": True}),
}
HIGH = c.RiskAssessment(level="high", reasons=["6 refunds in the last 90 days"])


async def _reviewed(env: WorkflowEnvironment, handle: Handle) -> None:
    await until_status(env, handle, TicketStatus.awaiting_merchant_review)


async def _approved(env: WorkflowEnvironment, handle: Handle) -> None:
    await _reviewed(env, handle)
    await approve(handle, note="recorded")


async def _returned(env: WorkflowEnvironment, handle: Handle) -> None:
    await _approved(env, handle)
    await ship_back(handle)
    await handle.signal(TicketWorkflow.tracking_event, courier("delivered"))
    await until_status(env, handle, TicketStatus.awaiting_inspection)


async def _return_refunded(env: WorkflowEnvironment, handle: Handle) -> None:
    await _returned(env, handle)
    await inspect(handle)


async def _shipped_by_label(env: WorkflowEnvironment, handle: Handle) -> None:
    await _approved(env, handle)
    await until_status(env, handle, TicketStatus.awaiting_buyer_return)
    # Submitted, approved, then the label's step.
    while (await handle.query(TicketWorkflow.state))["seq"] < 3:
        await env.sleep(timedelta(seconds=1))
    for status in ("picked_up", "delivered"):
        await handle.signal(
            TicketWorkflow.tracking_event, courier(status, tracking_no=LABEL_TRACKING)
        )
    await until_status(env, handle, TicketStatus.awaiting_inspection)
    await inspect(handle)


async def _exchanged(env: WorkflowEnvironment, handle: Handle) -> None:
    await _return_refunded(env, handle)
    await reship(handle)
    await handle.execute_update(
        TicketWorkflow.confirm_receipt, c.ConfirmReceipt(actor=Actor.buyer, actor_id="b-1")
    )


async def _replacement_received(env: WorkflowEnvironment, handle: Handle) -> None:
    await until_status(env, handle, TicketStatus.awaiting_reship)
    await reship(handle)
    await handle.execute_update(
        TicketWorkflow.confirm_receipt, c.ConfirmReceipt(actor=Actor.buyer, actor_id="b-1")
    )


async def _cheaper_exchanged(env: WorkflowEnvironment, handle: Handle) -> None:
    """Inspected, the difference refunded (settled by a poll), reshipped, received."""
    await _return_refunded(env, handle)
    await _replacement_received(env, handle)


async def _difference_declined(env: WorkflowEnvironment, handle: Handle) -> None:
    await exchanges.returned_and_inspected(env, handle)
    await handle.execute_update(
        TicketWorkflow.second_approval,
        c.SecondApproval(approve=False, actor_id="s-1", note="recorded"),
    )
    await exchanges.reshipped_and_received(env, handle)


async def _dearer_exchanged(env: WorkflowEnvironment, handle: Handle) -> None:
    """Inspected, the difference paid through the platform, reshipped, received."""
    await _return_refunded(env, handle)
    await until_status(env, handle, TicketStatus.awaiting_difference_payment)
    await handle.signal(TicketWorkflow.difference_paid, exchanges.paid())
    await _replacement_received(env, handle)


async def _inspection_failed(env: WorkflowEnvironment, handle: Handle) -> None:
    await _returned(env, handle)
    await inspect(handle, accepted=1, rejected=1, note="recorded")
    await handle.execute_update(
        TicketWorkflow.resolve_inspection,
        c.ResolveInspection(
            actor=Actor.merchant, actor_id="m-1", decision="partial_refund", amount=10000
        ),
    )


async def _rejected_and_arbitrated(env: WorkflowEnvironment, handle: Handle) -> None:
    await _reviewed(env, handle)
    await handle.execute_update(
        TicketWorkflow.reject, c.Reject(actor=Actor.merchant, actor_id="m-1", reason_code="used")
    )
    await handle.execute_update(
        TicketWorkflow.escalate, c.Escalate(actor=Actor.buyer, actor_id="b-1", reason="recorded")
    )
    await handle.execute_update(
        TicketWorkflow.arbitrate,
        c.Arbitration(actor=Actor.support, actor_id="s-1", decision="reject"),
    )


async def _escalated_and_refunded(env: WorkflowEnvironment, handle: Handle) -> None:
    await _reviewed(env, handle)
    await env.sleep(timedelta(hours=49))  # past the review deadline: escalated, not approved
    await until_status(env, handle, TicketStatus.under_arbitration)
    await handle.execute_update(
        TicketWorkflow.arbitrate,
        c.Arbitration(actor=Actor.support, actor_id="s-1", decision="partial_refund", amount=12000),
    )


async def _return_refunded_polls_stopped(env: WorkflowEnvironment, handle: Handle) -> None:
    """The webhook reports the delivery while the courier poll waits for its next attempt."""
    await _approved(env, handle)
    await ship_back(handle)
    await env.sleep(timedelta(hours=3))
    await handle.signal(TicketWorkflow.tracking_event, courier("delivered"))
    await until_status(env, handle, TicketStatus.awaiting_inspection)
    await inspect(handle)


def _found_by_poll(provider: FakeProvider) -> Scenario:
    """No webhook comes: a poll finds the parcel delivered."""

    async def found(env: WorkflowEnvironment, handle: Handle) -> None:
        await _approved(env, handle)
        await ship_back(handle)
        await env.sleep(timedelta(hours=3))
        provider.courier_events = [courier("in_transit"), courier("delivered")]
        await until_status(env, handle, TicketStatus.awaiting_inspection)
        await inspect(handle)

    return found


async def _lost(env: WorkflowEnvironment, handle: Handle) -> None:
    await _approved(env, handle)
    await ship_back(handle)
    await handle.signal(TicketWorkflow.tracking_event, courier("lost"))


def _retried(provider: FakeProvider) -> Scenario:
    async def retry(env: WorkflowEnvironment, handle: Handle) -> None:
        await until_status(env, handle, TicketStatus.refund_failed)
        provider.final_status, provider.polls = "succeeded", 0
        await handle.execute_update(
            TicketWorkflow.retry_refund, c.RetryRefund(actor=Actor.support, actor_id="s-1")
        )

    return retry


async def _reversal_retried_to_balance(env: WorkflowEnvironment, handle: Handle) -> None:
    await until_status(env, handle, TicketStatus.refund_failed)
    await handle.execute_update(
        TicketWorkflow.retry_refund,
        c.RetryRefund(actor=Actor.support, actor_id="s-1", destination="balance"),
    )


def _webhook_before_answer(provider: FakeProvider) -> Scenario:
    async def early(env: WorkflowEnvironment, handle: Handle) -> None:
        await provider.called.wait()
        await handle.signal(
            TicketWorkflow.payment_event,
            c.PaymentSignal(
                event_id="evt_early",
                idempotency_key=f"{handle.id}-R1",
                provider_refund_id="re_1",
                status="succeeded",
            ),
        )
        await asyncio.sleep(0.2)
        assert provider.answer_when is not None
        provider.answer_when.set()

    return early


@dataclass
class _RefusingUnstorable(FakeProvider):
    """Writes a step as the database does: text it cannot store fails the write for good, as
    `activities.data_errors` reports it (the workflow then records it for support)."""

    def activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name=c.RECORD_TRANSITION)
        async def record_transition(transition: c.Transition) -> None:
            try:
                refuse_unstorable(transition.model_dump(mode="json"))
            except ValueError as error:
                raise ApplicationError(
                    f"the database cannot store this step: {error}",
                    type=c.UNSTORABLE_DATA,
                    non_retryable=True,
                ) from error
            self.transitions.append(transition)

        others = [fn for fn in super().activities() if fn.__name__ != "record_transition"]
        return [record_transition, *others]


async def _rejected_with_unstorable_note(env: WorkflowEnvironment, handle: Handle) -> None:
    await _reviewed(env, handle)
    await handle.execute_update(
        TicketWorkflow.reject,
        c.Reject(actor=Actor.merchant, actor_id="m-1", reason_code="used", note="worn\x00out"),
    )
    await handle.execute_update(
        TicketWorkflow.escalate, c.Escalate(actor=Actor.buyer, actor_id="b-1", reason="recorded")
    )
    await handle.execute_update(
        TicketWorkflow.arbitrate,
        c.Arbitration(actor=Actor.support, actor_id="s-1", decision="reject"),
    )


async def _reminder_missed_past_the_deadline(env: WorkflowEnvironment) -> WorkflowHistory:
    """No worker runs over a review reminder's moment and the deadline after it (the engine was
    down): once one is back the reminder is not sent, and the deadline's outcome is applied.

    The clock skips only while nothing is pending, so the outage is a few real seconds."""
    provider, queue = FakeProvider(settle_after_polls=1), f"wf-{uuid.uuid4().hex[:8]}"
    policy = ticket_input("AS-policy").policy.model_copy(
        update={"review_reminders": [timedelta(seconds=3)]}
    )
    async with running(env, provider, queue):
        handle = await start(env, queue, **REVIEWED, policy=policy)
        await until_status(env, handle, TicketStatus.awaiting_merchant_review)
        deadline = recorded(provider, "submitted_for_review").deadline_at
        assert deadline is not None
        await env.sleep(deadline - timedelta(seconds=10) - await env.get_current_time())
    await env.sleep(deadline + timedelta(seconds=4) - await env.get_current_time())
    async with running(env, provider, queue):
        await handle.result()
    assert "merchant_reminded" not in [t.event for t in provider.transitions]
    return await handle.fetch_history()


async def _fast_refunded(env: WorkflowEnvironment, handle: Handle) -> None:
    await until_status(env, handle, TicketStatus.awaiting_buyer_return)
    await ship_back(handle)
    await until_status(env, handle, TicketStatus.return_in_transit)
    await handle.signal(TicketWorkflow.tracking_event, courier("picked_up"))


async def _evidence_added(env: WorkflowEnvironment, handle: Handle) -> None:
    await until_status(env, handle, TicketStatus.awaiting_buyer_evidence)
    await handle.execute_update(
        TicketWorkflow.evidence,
        c.Evidence(actor=Actor.buyer, actor_id="b-1", photos=["https://img.example/1.jpg"]),
    )


# Tickets opened under a merchant's rules (domain.rules), one per kind of outcome.
RULED = {
    "rule_kept_item_with_bonus": ruled(
        rule(
            "keep",
            "quoted_amount < 50000",
            approve=True,
            keep_item=True,
            store_credit_bonus_percent=10,
        )
    ),
    "rule_fast_refund_on_first_scan": ruled(
        rule("fast", "refunds_90d == 0", approve=True, refund_release="on_first_scan")
    ),
    "rule_evidence_then_kept": ruled(
        rule("photos", "true", require_evidence=1, approve=True, keep_item=True)
    ),
}


async def _cancelled(env: WorkflowEnvironment, handle: Handle) -> None:
    await _reviewed(env, handle)
    await handle.execute_update(TicketWorkflow.cancel, c.Cancel(actor=Actor.buyer))


def _fresh(
    provider: FakeProvider, overrides: dict[str, object]
) -> tuple[FakeProvider, dict[str, object]]:
    """A provider that has seen nothing yet, configured as `provider` was."""
    return FakeProvider(
        settle_after_polls=provider.settle_after_polls,
        needs_second_approval=provider.needs_second_approval,
        final_status=provider.final_status,
        refuse=provider.refuse,
        risk=provider.risk,
    ), overrides


async def main() -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=test_server_path(), data_converter=pydantic_data_converter
    )
    await register_search_attributes(env.client)
    scenarios: dict[str, tuple[FakeProvider, Scenario]] = {
        "refund_before_shipment_risk_checked": (FakeProvider(settle_after_polls=1), _nothing),
        "refund_before_shipment_notified": (FakeProvider(settle_after_polls=1), _nothing),
        "refund_failed_then_retried": (
            failing := FakeProvider(settle_after_polls=1, final_status="failed"),
            _retried(failing),
        ),
        "refund_before_shipment_webhook": (FakeProvider(), _webhook),
        "refund_before_shipment_polled": (FakeProvider(settle_after_polls=2), _nothing),
        "refund_before_shipment_failed": (FakeProvider(refuse=True), _nothing),
        "refund_webhook_before_call_returned": (
            slow := FakeProvider(answer_when=asyncio.Event(), settle_after_polls=1),
            _webhook_before_answer(slow),
        ),
        "refund_reversed_while_settling": (
            returned := FakeProvider(settle_after_polls=2, final_status="reversed"),
            _retried(returned),
        ),
        "refund_fell_back_to_balance": (
            FakeProvider(refuse=True, refusal_code="payment_too_old"),
            _nothing,
        ),
        "second_approval_granted": (
            FakeProvider(settle_after_polls=1, needs_second_approval=True),
            await _second_approval(True),
        ),
        "second_approval_declined": (
            FakeProvider(needs_second_approval=True),
            await _second_approval(False),
        ),
        # The settlement booked with the step that reports it; steps with nothing to send.
        "refund_before_shipment_settled_with_its_step": (
            FakeProvider(settle_after_polls=1, to_send=0),
            _nothing,
        ),
    }
    # Flows with a merchant review: (provider, how the ticket starts, what happens).
    reviewed: dict[str, tuple[FakeProvider, dict[str, object], Scenario]] = {
        "refund_after_shipment_approved": (FakeProvider(settle_after_polls=1), REVIEWED, _approved),
        "review_timeout_auto_approved": (FakeProvider(settle_after_polls=1), REVIEWED, _nothing),
        "review_timeout_escalated_then_partial_refund": (
            FakeProvider(settle_after_polls=1, risk=HIGH),
            REVIEWED,
            _escalated_and_refunded,
        ),
        "rejected_escalated_arbitrated": (FakeProvider(), REVIEWED, _rejected_and_arbitrated),
        "cancelled_in_review": (FakeProvider(), RETURN, _cancelled),
        "return_refunded_after_inspection": (
            FakeProvider(settle_after_polls=1),
            RETURN,
            _return_refunded,
        ),
        "return_buyer_timeout": (FakeProvider(), RETURN, _approved),
        "return_checkin_timeout_refunded": (FakeProvider(settle_after_polls=1), RETURN, _returned),
        "return_inspection_failed_partial_refund": (
            FakeProvider(settle_after_polls=1),
            RETURN,
            _inspection_failed,
        ),
        "return_lost_refunded": (FakeProvider(settle_after_polls=1), RETURN, _lost),
        "return_refunded_settled_with_its_step": (
            FakeProvider(settle_after_polls=1, to_send=0),
            RETURN,
            _return_refunded,
        ),
        "exchange_completed": (FakeProvider(), EXCHANGE, _exchanged),
        "exchange_cheaper_difference_refunded": (
            FakeProvider(settle_after_polls=1, price_difference=2900),
            exchanges.exchange(exchanges.CHEAPER),
            _cheaper_exchanged,
        ),
        "exchange_cheaper_difference_declined_reshipped": (
            FakeProvider(price_difference=2900, needs_second_approval=True),
            exchanges.exchange(exchanges.CHEAPER),
            _difference_declined,
        ),
        "exchange_dearer_difference_paid": (
            FakeProvider(),
            exchanges.exchange(exchanges.DEARER),
            _dearer_exchanged,
        ),
        # Not paid within 3 days: the returned goods are refunded instead.
        "exchange_dearer_unpaid_refunded": (
            FakeProvider(settle_after_polls=1),
            exchanges.exchange(exchanges.DEARER),
            _return_refunded,
        ),
        "return_shipped_by_label_refunded": (
            FakeProvider(settle_after_polls=1),
            LABELLED,
            _shipped_by_label,
        ),
        # Each courier poll one attempt, cancelled when the ticket stops waiting (POLL_BY_RETRIES).
        "return_refunded_poll_stopped": (
            FakeProvider(settle_after_polls=1),
            RETURN,
            _return_refunded_polls_stopped,
        ),
        "return_delivered_found_by_poll": (
            polled := FakeProvider(settle_after_polls=1),
            RETURN,
            _found_by_poll(polled),
        ),
        "rejected_with_unstorable_note_for_support": (
            _RefusingUnstorable(),
            REVIEWED,
            _rejected_with_unstorable_note,
        ),
        "refund_reversed_reopened": (
            FakeProvider(),
            reopened_after_reversal(new_ticket_no()),
            _reversal_retried_to_balance,
        ),
        "rule_kept_item_with_bonus": (
            FakeProvider(settle_after_polls=1),
            RULED["rule_kept_item_with_bonus"],
            _nothing,
        ),
        "rule_fast_refund_on_first_scan": (
            FakeProvider(settle_after_polls=1),
            RULED["rule_fast_refund_on_first_scan"],
            _fast_refunded,
        ),
        "rule_evidence_then_kept": (
            FakeProvider(settle_after_polls=1),
            RULED["rule_evidence_then_kept"],
            _evidence_added,
        ),
    }
    runs: list[tuple[str, FakeProvider, dict[str, object], Scenario]] = [
        (name, provider, {}, act) for name, (provider, act) in scenarios.items()
    ]
    runs += [(name, *run) for name, run in reviewed.items()]
    # The same flows once more, recorded by the regular activity after commit (RECORD_AFTER_COMMIT).
    runs += [
        (f"{name}{AFTER_COMMIT}", *_fresh(provider, overrides), act)
        for name, provider, overrides, act in list(runs)
        if name in RECORDED_AFTER_COMMIT
    ]
    for name, provider, overrides, act in runs:
        if (HISTORIES / f"{name}.json").exists():
            continue
        async with worker(env, provider) as queue:
            handle = await start(env, queue, **overrides)
            await act(env, handle)
            await handle.result()
            history = await handle.fetch_history()
        _save(name, history)
    # Flows over an outage: they stop and start their own workers.
    outages: dict[str, Callable[[WorkflowEnvironment], Awaitable[WorkflowHistory]]] = {
        "review_reminder_missed_past_the_deadline": _reminder_missed_past_the_deadline,
    }
    for name, record in outages.items():
        if not (HISTORIES / f"{name}.json").exists():
            _save(name, await record(env))
    # The engine's other workflows: a bulk run, a what-if, a consistency check.
    for name, recorder in service_histories.RECORDERS.items():
        if not (HISTORIES / f"{name}.json").exists():
            (HISTORIES / f"{name}.json").write_text(await recorder(env))
    await env.shutdown()


def _save(name: str, history: WorkflowHistory) -> None:
    (HISTORIES / f"{name}.json").write_text(history.to_json())
    print(f"recorded {name}: {len(history.events)} events")


if __name__ == "__main__":
    asyncio.run(main())
