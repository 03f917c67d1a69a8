"""The after-sales ticket: one workflow per ticket, owning its state, deadlines and side effects."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import contracts as c
    from domain.money import format_minor
    from domain.tickets import (
        TERMINAL_STATUSES,
        Actor,
        TicketStatus,
        TicketType,
        refund_idempotency_key,
    )
    from workflows import search_attributes as sa

_DB_WRITE = timedelta(seconds=30)
_PROVIDER_CALL = timedelta(seconds=60)
# Provider outages are retried for as long as it takes; the idempotency key makes that safe.
_PROVIDER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
)
_FINAL_REFUND_STATES = frozenset({"succeeded", "failed"})
_SETTLEMENT_OVERDUE = "alert support, keep reconciling"


@workflow.defn
class TicketWorkflow:
    @workflow.init
    def __init__(self, ticket: c.TicketInput) -> None:
        self._ticket = ticket
        self._status = TicketStatus.submitted
        self._version = 0
        self._seq = 0
        self._next_actor: Actor | None = Actor.system
        self._deadline_at: datetime | None = None
        self._on_timeout: str | None = None
        self._refund: c.RefundState | None = None
        # Where the refund's final status was learned: execute, webhook or poll.
        self._refund_source = "execute"
        self._seen_events: set[str] = set()
        self._refunded_amount = 0

    @workflow.run
    async def run(self, ticket: c.TicketInput) -> c.TicketResult:
        if ticket.type is TicketType.refund_only and not ticket.order_shipped:
            await self._refund_before_shipment()
        else:
            raise ApplicationError(
                f"no flow for a {ticket.type} ticket on this order", non_retryable=True
            )
        await workflow.wait_condition(workflow.all_handlers_finished)
        return c.TicketResult(
            ticket_no=ticket.ticket_no, status=self._status, refunded_amount=self._refunded_amount
        )

    @workflow.signal
    def payment_event(self, event: c.PaymentSignal) -> None:
        # Providers redeliver webhooks; an event seen once changes nothing the second time.
        if event.event_id in self._seen_events:
            return
        self._seen_events.add(event.event_id)
        if self._refund is None or event.idempotency_key != self._refund.idempotency_key:
            return
        if self._refund.status in _FINAL_REFUND_STATES:
            return
        self._refund_source = "webhook"
        self._refund = self._refund.model_copy(
            update={
                "status": event.status,
                "failure_reason": event.failure_reason,
                "provider_refund_id": event.provider_refund_id,
            }
        )

    @workflow.query
    def state(self) -> dict[str, Any]:
        return {
            "status": self._status,
            "version": self._version,
            "next_actor": self._next_actor,
            "deadline_at": self._deadline_at,
            "on_timeout": self._on_timeout,
            "refund": self._refund.model_dump() if self._refund else None,
        }

    # --- flows -----------------------------------------------------------------------------

    async def _refund_before_shipment(self) -> None:
        grant = await self._grant(1)
        reasons = ["approved automatically: a refund before shipment needs no merchant review"]
        overdue_at = workflow.now() + self._ticket.policy.refund_settlement
        await self._transition(
            "approved_by_rule",
            TicketStatus.refunding,
            "; ".join(reasons + grant.notes),
            data={"amount": grant.amount, "breakdown": grant.breakdown},
            granted_amount=grant.amount,
            deadline_at=overdue_at,
            on_timeout=_SETTLEMENT_OVERDUE,
        )
        await self._execute_refund(grant, overdue_at)

    # --- money -----------------------------------------------------------------------------

    async def _grant(self, refund_seq: int) -> c.Grant:
        key = refund_idempotency_key(self._ticket.ticket_no, refund_seq)
        grant = await workflow.execute_activity(
            c.GRANT_REFUND,
            c.GrantRequest(
                ticket_no=self._ticket.ticket_no, refund_seq=refund_seq, idempotency_key=key
            ),
            result_type=c.Grant,
            start_to_close_timeout=_DB_WRITE,
            summary=f"Record the refund owed on {self._ticket.order_id} (refund #{refund_seq})",
        )
        workflow.upsert_search_attributes([sa.REFUND_AMOUNT.value_set(grant.amount)])
        return grant

    async def _execute_refund(self, grant: c.Grant, overdue_at: datetime) -> None:
        amount = format_minor(grant.amount, grant.currency)
        self._refund = await workflow.execute_activity(
            c.EXECUTE_REFUND,
            c.RefundExecution(ticket_no=grant.ticket_no, idempotency_key=grant.idempotency_key),
            result_type=c.RefundState,
            start_to_close_timeout=_PROVIDER_CALL,
            retry_policy=_PROVIDER_RETRY,
            summary=f"Refund {amount} through the payment provider",
        )
        await self._await_settlement(grant, overdue_at)
        refund = self._refund
        assert refund is not None
        await workflow.execute_activity(
            c.SETTLE_REFUND,
            c.Settlement(
                ticket_no=grant.ticket_no,
                idempotency_key=grant.idempotency_key,
                status=refund.status,
                failure_reason=refund.failure_reason,
                source=self._refund_source,
            ),
            start_to_close_timeout=_DB_WRITE,
            summary=f"Book the {refund.status} refund of {amount} on the order",
        )
        if refund.status == "succeeded":
            self._refunded_amount += grant.amount
            await self._transition(
                "refund_settled",
                TicketStatus.completed,
                f"refund of {amount} settled at {refund.provider} ({refund.provider_refund_id})",
                data={"provider_refund_id": refund.provider_refund_id, "amount": grant.amount},
                next_actor=None,
            )
        else:
            await self._transition(
                "refund_failed",
                TicketStatus.refund_failed,
                f"the payment provider refused the refund: {refund.failure_reason}",
                data={"provider_refund_id": refund.provider_refund_id},
                next_actor=Actor.support,
            )

    async def _await_settlement(self, grant: c.Grant, overdue_at: datetime) -> None:
        """Webhooks arrive as signals; when none comes, ask the provider now and then."""
        policy = self._ticket.policy
        alerted = False
        while not self._refund_final():
            try:
                await workflow.wait_condition(self._refund_final, timeout=policy.refund_status_poll)
            except TimeoutError:
                self._refund_source = "poll"
                self._refund = await workflow.execute_activity(
                    c.CHECK_REFUND,
                    c.RefundExecution(
                        ticket_no=grant.ticket_no, idempotency_key=grant.idempotency_key
                    ),
                    result_type=c.RefundState,
                    start_to_close_timeout=_PROVIDER_CALL,
                    retry_policy=_PROVIDER_RETRY,
                    summary="Ask the payment provider for the refund's status",
                )
            if not alerted and not self._refund_final() and workflow.now() >= overdue_at:
                alerted = True
                await self._transition(
                    "settlement_overdue",
                    TicketStatus.refunding,
                    "refund still pending at the provider past its settlement deadline: "
                    "support alerted, reconciliation continues",
                    next_actor=Actor.support,
                )

    def _refund_final(self) -> bool:
        return self._refund is not None and self._refund.status in _FINAL_REFUND_STATES

    # --- state -----------------------------------------------------------------------------

    def _set_deadline(self, deadline_at: datetime | None, on_timeout: str | None) -> None:
        self._deadline_at = deadline_at
        self._on_timeout = on_timeout
        workflow.upsert_search_attributes(
            [sa.DEADLINE_AT.value_set(deadline_at) if deadline_at else sa.DEADLINE_AT.value_unset()]
        )
        self._show_details()

    async def _transition(
        self,
        event: str,
        to: TicketStatus,
        reason: str,
        *,
        data: dict[str, Any] | None = None,
        next_actor: Actor | None = Actor.system,
        actor: Actor = Actor.system,
        actor_id: str | None = None,
        deadline_at: datetime | None = None,
        on_timeout: str | None = None,
        granted_amount: int | None = None,
    ) -> None:
        self._seq += 1
        self._version += 1
        previous, self._status = self._status, to
        self._next_actor = next_actor
        if to in TERMINAL_STATUSES:
            deadline_at, on_timeout = None, None
        transition = c.Transition(
            ticket_no=self._ticket.ticket_no,
            seq=self._seq,
            version=self._version,
            at=workflow.now(),
            actor_role=actor,
            actor_id=actor_id,
            event=event,
            from_status=previous,
            to_status=to,
            reason=reason,
            data=data or {},
            next_actor=next_actor,
            deadline_at=deadline_at,
            on_timeout=on_timeout,
            granted_amount=granted_amount,
        )
        workflow.upsert_search_attributes([sa.TICKET_STATUS.value_set(to)])
        self._set_deadline(deadline_at, on_timeout)
        # A local activity: a short write of the read model, kept next to the workflow task.
        await workflow.execute_local_activity(
            c.RECORD_TRANSITION, transition, start_to_close_timeout=_DB_WRITE
        )

    def _show_details(self) -> None:
        deadline = (
            f"{self._deadline_at:%Y-%m-%d %H:%M:%S} UTC, then {self._on_timeout}"
            if self._deadline_at
            else "none"
        )
        refund = (
            f"{self._refund.status} at {self._refund.provider}"
            f" ({self._refund.provider_refund_id or 'not yet accepted'})"
            if self._refund
            else "not started"
        )
        workflow.set_current_details(
            f"**State:** {self._status}\n\n"
            f"**Next actor:** {self._next_actor or 'nobody'}\n\n"
            f"**Deadline:** {deadline}\n\n"
            f"**Refund:** {refund}"
        )
