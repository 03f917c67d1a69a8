"""The ticket workflow on the time-skipping test server, with its activities faked by name."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import contracts as c
from activities.tracking import poll_interval
from domain.tickets import Actor, TicketStatus, TicketType
from settings import CourierSandboxSettings
from workflows.ticket import TicketWorkflow

AMOUNT = 30500
RETURN_TRACKING = "SF1234567890"
REPLACEMENT_TRACKING = "YT9876543210"
LABEL_TRACKING = "SF048213579604"
LABEL = c.IssuedLabel(
    label_id="lb_1",
    carrier="sf",
    tracking_no=LABEL_TRACKING,
    dropoff_code="DROP-7K2Q-M9XA",
    issued_at=datetime(2026, 12, 2, tzinfo=UTC),
)
# The engine's default first interval of the courier poll (COURIER_SANDBOX_POLL_INTERVAL).
COURIER_POLL: timedelta = CourierSandboxSettings.model_fields["poll_interval"].default


@dataclass
class FakeProvider:
    """Stands in for the database and the payment provider under the activities' real names."""

    settle_after_polls: int | None = None
    needs_second_approval: bool = False
    final_status: str = "succeeded"
    refuse: bool = False
    # The provider's stable code when it refuses (e.g. `payment_too_old`).
    refusal_code: str | None = None
    # Set: the refund call waits for it before answering (a slow provider).
    answer_when: asyncio.Event | None = None
    # Set as soon as a refund call reaches the provider.
    called: asyncio.Event = field(default_factory=asyncio.Event)
    risk: c.RiskAssessment = field(default_factory=lambda: c.RiskAssessment(level="low"))
    transitions: list[c.Transition] = field(default_factory=list)
    grants: list[c.GrantRequest] = field(default_factory=list)
    notified: list[c.NotificationBatch] = field(default_factory=list)
    # What the courier's tracking API answers when the ticket polls it.
    courier_events: list[c.TrackingSignal] = field(default_factory=list)
    parcel_queries: list[c.ParcelQuery] = field(default_factory=list)
    # The courier's return label for a ticket that asks for one; None: the courier refuses.
    label: c.IssuedLabel | None = field(default_factory=lambda: LABEL)
    # Label requests that fail as a courier outage does (retried) before one is answered.
    label_outages: int = 0
    label_requests: list[c.LabelRequest] = field(default_factory=list)
    # What the refund of an exchange's price difference grants (the database reads the ticket's
    # replacement terms; this fake has none).
    price_difference: int = 0
    assessments: int = 0
    polls: int = 0
    executions: int = 0
    settlements: list[c.Settlement] = field(default_factory=list)
    # What recording a step answers about its notifications still to send (None: says nothing).
    to_send: int | None = None
    # Set: the activity of that name (or `record_transition:<event>`) waits for `release`.
    hold_at: str | None = None
    holding: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def _held(self, name: str) -> None:
        """A step that awaits this activity stays in the middle of applying its action."""
        if self.hold_at == name:
            self.hold_at = None
            self.holding.set()
            await self.release.wait()

    def activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name=c.RECORD_TRANSITION)
        async def record_transition(transition: c.Transition) -> int | None:
            await self._held(f"{c.RECORD_TRANSITION}:{transition.event}")
            self.transitions.append(transition)
            if transition.settlement is not None:
                # Booked with the step, as the engine's activity does.
                self.settlements.append(transition.settlement)
            return self.to_send

        @activity.defn(name=c.DELIVER_NOTIFICATIONS)
        async def deliver_notifications(batch: c.NotificationBatch) -> int:
            self.notified.append(batch)
            return 1

        @activity.defn(name=c.TRACK_PARCEL)
        async def track_parcel(query: c.ParcelQuery) -> c.ParcelStatus:
            """Answers as the engine's poll does: the parcel's events once the courier reports a
            status the ticket waits for; until then the attempt fails, and its retry is the
            next poll, after the engine's default interval."""
            self.parcel_queries.append(query)
            if not any(event.status in query.until for event in self.courier_events):
                raise ApplicationError(
                    "the parcel is still travelling",
                    type=c.PARCEL_TRAVELLING,
                    next_retry_delay=poll_interval(COURIER_POLL, activity.info().attempt),
                    category=ApplicationErrorCategory.BENIGN,
                )
            return c.ParcelStatus(tracking_no=query.tracking_no, events=self.courier_events)

        @activity.defn(name=c.ISSUE_RETURN_LABEL)
        async def issue_return_label(request: c.LabelRequest) -> c.IssuedLabel:
            self.label_requests.append(request)
            if self.label_outages:
                self.label_outages -= 1
                raise ApplicationError("courier sandbox answered 503")
            if self.label is None:
                raise ApplicationError(
                    "the order has no delivery address to send the parcel from",
                    type=c.RETURN_LABEL_REFUSED,
                    non_retryable=True,
                )
            return self.label

        @activity.defn(name=c.ASSESS_RISK)
        async def assess_risk(request: c.RiskRequest) -> c.RiskAssessment:
            self.assessments += 1
            return self.risk

        @activity.defn(name=c.GRANT_REFUND)
        async def grant_refund(request: c.GrantRequest) -> c.Grant:
            await self._held(c.GRANT_REFUND)
            self.grants.append(request)
            decided = AMOUNT if request.requested_amount is None else request.requested_amount
            if request.price_difference:
                decided = self.price_difference
            return c.Grant(
                ticket_no=request.ticket_no,
                refund_seq=request.refund_seq,
                idempotency_key=request.idempotency_key,
                currency="CNY",
                amount=decided - request.service_fee,
                shipping_amount=1000,
                needs_second_approval=self.needs_second_approval,
                notes=["refund includes shipping: this ticket completes the unshipped order"],
                breakdown={"total": AMOUNT},
                destination=request.destination.kind if request.destination else "original",
            )

        @activity.defn(name=c.EXECUTE_REFUND)
        async def execute_refund(execution: c.RefundExecution) -> c.RefundState:
            self.executions += 1
            self.called.set()
            if self.answer_when is not None:
                await self.answer_when.wait()
            destination = self.destination_of(execution.idempotency_key)
            if destination != "original":
                # Our own ledger pays at once.
                return c.RefundState(
                    idempotency_key=execution.idempotency_key,
                    provider=destination,
                    provider_refund_id=f"{destination}_1",
                    status="succeeded",
                    destination=destination,
                )
            return c.RefundState(
                idempotency_key=execution.idempotency_key,
                provider="sandbox",
                provider_refund_id=None if self.refuse else "re_1",
                status="failed" if self.refuse else "pending",
                failure_reason="payment_too_old: older than 180 days" if self.refuse else None,
                failure_code=self.refusal_code if self.refuse else None,
            )

        @activity.defn(name=c.CHECK_REFUND)
        async def check_refund(execution: c.RefundExecution) -> c.RefundState:
            self.polls += 1
            done = self.settle_after_polls is not None and self.polls >= self.settle_after_polls
            return c.RefundState(
                idempotency_key=execution.idempotency_key,
                provider="sandbox",
                provider_refund_id="re_1",
                status=self.final_status if done else "pending",
            )

        @activity.defn(name=c.SETTLE_REFUND)
        async def settle_refund(settlement: c.Settlement) -> None:
            self.settlements.append(settlement)

        @activity.defn(name=c.VOID_GRANT)
        async def void_grant(voiding: c.Settlement) -> None:
            await self._held(c.VOID_GRANT)
            self.settlements.append(voiding)

        return [
            record_transition,
            deliver_notifications,
            track_parcel,
            issue_return_label,
            assess_risk,
            grant_refund,
            execute_refund,
            check_refund,
            settle_refund,
            void_grant,
        ]

    def destination_of(self, idempotency_key: str) -> str:
        for request in self.grants:
            if request.idempotency_key == idempotency_key and request.destination is not None:
                return request.destination.kind
        return "original"


def ticket_input(ticket_no: str, **overrides: Any) -> c.TicketInput:
    ticket = c.TicketInput(
        ticket_no=ticket_no,
        order_id="O-1",
        buyer_id="b-1",
        merchant_id="m-1",
        type=TicketType.refund_only,
        order_shipped=False,
        currency="CNY",
        quoted_amount=AMOUNT,
        reason_code="no_longer_needed",
        lines={"L1": 2},
        policy=c.TicketPolicy(
            version="test",
            merchant_review=timedelta(hours=48),
            buyer_after_rejection=timedelta(days=7),
            refund_settlement=timedelta(days=7),
            refund_status_poll=timedelta(hours=1),
            second_approval_threshold=500000,
            # Tests of return labels ask for them; the others follow typed tracking numbers.
            return_labels=False,
        ),
        opened_by=Actor.buyer,
        opened_at=datetime.now(UTC),
    )
    return ticket.model_copy(update=overrides)


@asynccontextmanager
async def worker(env: WorkflowEnvironment, provider: FakeProvider) -> AsyncIterator[str]:
    """A worker on a task queue of its own; yields the queue's name.

    Tickets `start`ed on the queue and still open when the worker stops are terminated.
    """
    queue = f"wf-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client, task_queue=queue, workflows=[TicketWorkflow], activities=provider.activities()
    ):
        try:
            yield queue
        finally:
            await _end_open_tickets(queue)


# Tickets started per task queue: those still waiting when their worker stops are terminated,
# or their next timer would leave a workflow task nobody polls, which stops time skipping.
_started: dict[str, list[WorkflowHandle[Any, Any]]] = {}


async def _end_open_tickets(queue: str) -> None:
    for handle in _started.pop(queue, []):
        with contextlib.suppress(RPCError):  # already ended
            await handle.terminate(reason="the test is over")


def new_ticket_no() -> str:
    return f"AS20261123-{uuid.uuid4().int % 1_000_000:06d}"


async def start(
    env: WorkflowEnvironment, queue: str, **overrides: Any
) -> WorkflowHandle[TicketWorkflow, c.TicketResult]:
    """Start a ticket; `overrides` change its input, and may name its `ticket_no` and a
    `signal`: a payment event that arrives with the start (as the API sends `refund.reversed`
    to a ticket whose workflow had ended)."""
    ticket_no: str = overrides.pop("ticket_no", None) or new_ticket_no()
    signal: c.PaymentSignal | None = overrides.pop("signal", None)
    with_signal: dict[str, Any] = (
        {"start_signal": "payment_event", "start_signal_args": [signal]} if signal else {}
    )
    handle = await env.client.start_workflow(
        TicketWorkflow.run,
        ticket_input(ticket_no, **overrides),
        id=ticket_no,
        task_queue=queue,
        **with_signal,
    )
    _started.setdefault(queue, []).append(handle)
    return handle


def reopened_after_reversal(ticket_no: str) -> dict[str, Any]:
    """Start options of a completed refund-only ticket whose refund R1 the bank sent back."""
    refund = c.RefundState(
        idempotency_key=f"{ticket_no}-R1",
        provider="sandbox",
        provider_refund_id="re_1",
        status="succeeded",
    )
    reopening = c.Reopening(
        status=TicketStatus.completed,
        version=2,
        seq=2,
        refund_seq=1,
        refunded_amount=AMOUNT,
        refund=refund,
        amount=AMOUNT,
        requested_amount=AMOUNT,
        lines={"L1": 2},
    )
    reversal = c.PaymentSignal(
        event_id="evt_reversed",
        idempotency_key=refund.idempotency_key,
        provider_refund_id="re_1",
        status="reversed",
        failure_reason="account_frozen",
    )
    return {"ticket_no": ticket_no, "signal": reversal, "reopened": reopening}


def statuses(provider: FakeProvider) -> list[TicketStatus]:
    return [t.to_status for t in provider.transitions]


async def until_status(
    env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any], status: TicketStatus
) -> None:
    """Until the ticket is in `status` and the step that took it there is written (until then
    the ticket refuses actions as in progress, as the API tells its callers)."""
    while True:
        state = await handle.query(TicketWorkflow.state)
        if state["status"] == status and state["recorded_version"] == state["version"]:
            return
        await env.sleep(timedelta(seconds=1))


# --- reading what the fake recorded ----------------------------------------------------------


def events(provider: FakeProvider) -> list[str]:
    return [t.event for t in provider.transitions]


def recorded(provider: FakeProvider, event: str) -> c.Transition:
    """The one transition recorded under `event`."""
    found = [t for t in provider.transitions if t.event == event]
    assert len(found) == 1, f"{event} recorded {len(found)} times: {events(provider)}"
    return found[0]


async def until_recorded(
    env: WorkflowEnvironment, provider: FakeProvider, event: str
) -> c.Transition:
    while event not in events(provider):
        await env.sleep(timedelta(seconds=1))
    return recorded(provider, event)


# --- actors and couriers, as the API would send them -----------------------------------------

Handle = WorkflowHandle[TicketWorkflow, c.TicketResult]


async def approve(handle: Handle, *, service_fee: int = 0, note: str = "") -> c.ActionResult:
    return await handle.execute_update(
        TicketWorkflow.approve,
        c.Approve(
            actor=Actor.merchant,
            actor_id="m-1",
            service_fee=service_fee,
            warehouse_id="wh-1",
            note=note,
        ),
    )


async def ship_back(handle: Handle, tracking_no: str = RETURN_TRACKING) -> c.ActionResult:
    return await handle.execute_update(
        TicketWorkflow.return_shipment,
        c.Shipping(actor=Actor.buyer, actor_id="b-1", carrier="SF", tracking_no=tracking_no),
    )


async def inspect(
    handle: Handle, *, accepted: int = 2, rejected: int = 0, note: str = ""
) -> c.ActionResult:
    return await handle.execute_update(
        TicketWorkflow.inspection,
        c.Inspection(
            actor=Actor.warehouse,
            actor_id="wh-1",
            lines=[c.InspectedLine(line_id="L1", accepted=accepted, rejected=rejected)],
            note=note,
        ),
    )


async def reship(handle: Handle) -> c.ActionResult:
    return await handle.execute_update(
        TicketWorkflow.reship,
        c.Shipping(
            actor=Actor.merchant, actor_id="m-1", carrier="YTO", tracking_no=REPLACEMENT_TRACKING
        ),
    )


def courier(
    status: str, *, event_id: str | None = None, tracking_no: str = RETURN_TRACKING
) -> c.TrackingSignal:
    return c.TrackingSignal.model_validate(
        {
            "event_id": event_id or f"trk-{uuid.uuid4().hex[:8]}",
            "tracking_no": tracking_no,
            "status": status,
            "at": datetime.now(UTC),
        }
    )
