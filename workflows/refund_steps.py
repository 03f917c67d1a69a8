"""Granting, executing and reconciling a refund, as steps of a ticket's workflow."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    import contracts as c
    from contracts import search_attributes as sa
    from domain.money import format_minor
    from domain.tickets import (
        Actor,
        Destination,
        TicketStatus,
        describe_destination,
        refund_idempotency_key,
    )

from workflows.actor_inbox import ActorInbox
from workflows.ticket_record import DB_WRITE

_PROVIDER_CALL = timedelta(seconds=60)
# The provider activities heartbeat while they wait: a worker that died mid-call is retried soon.
_PROVIDER_HEARTBEAT = timedelta(seconds=10)
# Provider outages are retried for as long as it takes; the idempotency key makes that safe.
_PROVIDER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
)
_FINAL_REFUND_STATES = frozenset({"succeeded", "failed"})
SETTLEMENT_OVERDUE = "alert support, keep reconciling"
# A refund the provider reported reversed while the ticket awaited settlement used to be polled
# forever; now it goes to support like a failed one.
REVERSED_WHILE_SETTLING = "reversed-while-settling"
# A webhook that arrived while the refund was still being sent used to be dropped (the poll settled
# the refund later); now it is applied once the call returns.
EARLY_WEBHOOK = "early-webhook"


class RefundSteps(ActorInbox):
    def __init__(self, ticket: c.TicketInput) -> None:
        super().__init__(ticket)
        self._seen_events: set[str] = set()
        # Where the refund's final status was learned: execute, webhook or poll.
        self._refund_source = "execute"
        # The bank sent a succeeded refund back (`refund.reversed`): the ticket reopens.
        self._reversal: c.PaymentSignal | None = None
        # What the last succeeded refund paid, taken back if the bank reverses it.
        self._paid_amount = 0
        # The key of the refund being sent, and its webhook if one came before the call returned.
        self._sending: str | None = None
        self._early_event: c.PaymentSignal | None = None

    def apply_payment_event(self, event: c.PaymentSignal) -> None:
        # Providers redeliver webhooks; an event seen once changes nothing the second time.
        if event.event_id in self._seen_events:
            return
        self._seen_events.add(event.event_id)
        if self._refund is None:
            if event.idempotency_key == self._sending and event.status != "reversed":
                self._early_event = event  # the provider was faster than its own answer
            return
        if event.idempotency_key != self._refund.idempotency_key:
            return
        if event.status == "reversed":
            if self._refund.status == "succeeded":
                self._reversal = event
            return
        if self._refund.status in _FINAL_REFUND_STATES:
            return
        self._apply_status(event)

    def _apply_status(self, event: c.PaymentSignal) -> None:
        assert self._refund is not None
        self._refund_source = "webhook"
        self._refund = self._refund.model_copy(
            update={
                "status": event.status,
                "failure_reason": event.failure_reason,
                "provider_refund_id": event.provider_refund_id,
            }
        )

    async def grant(
        self,
        refund_seq: int,
        *,
        service_fee: int = 0,
        requested_amount: int | None = None,
        lines: dict[str, int] | None = None,
        destination: c.RefundDestination | None = None,
    ) -> c.Grant:
        key = refund_idempotency_key(self._ticket.ticket_no, refund_seq)
        grant = await workflow.execute_activity(
            c.GRANT_REFUND,
            c.GrantRequest(
                ticket_no=self._ticket.ticket_no,
                refund_seq=refund_seq,
                idempotency_key=key,
                service_fee=service_fee,
                requested_amount=requested_amount,
                lines=lines,
                destination=destination,
            ),
            result_type=c.Grant,
            start_to_close_timeout=DB_WRITE,
            summary=f"Record the refund owed on {self._ticket.order_id} (refund #{refund_seq})",
        )
        workflow.upsert_search_attributes([sa.REFUND_AMOUNT.value_set(grant.amount)])
        return grant

    async def void(self, grant: c.Grant, reason: str) -> None:
        await workflow.execute_activity(
            c.VOID_GRANT,
            c.Settlement(
                ticket_no=grant.ticket_no,
                idempotency_key=grant.idempotency_key,
                status="voided",
                failure_reason=reason,
                source="workflow",
            ),
            start_to_close_timeout=DB_WRITE,
            summary=f"Void refund #{grant.refund_seq}: no money moves",
        )

    async def refund(self, grant: c.Grant, overdue_at: datetime) -> None:
        """Send the granted refund, wait for the provider's final word, book it."""
        amount = format_minor(grant.amount, grant.currency)
        if grant.destination != Destination.original:
            amount += f" to {describe_destination(grant.destination)}"
        self._refund_source = "execute"
        self._sending = grant.idempotency_key
        self._refund = await workflow.execute_activity(
            c.EXECUTE_REFUND,
            c.RefundExecution(ticket_no=grant.ticket_no, idempotency_key=grant.idempotency_key),
            result_type=c.RefundState,
            start_to_close_timeout=_PROVIDER_CALL,
            heartbeat_timeout=_PROVIDER_HEARTBEAT,
            retry_policy=_PROVIDER_RETRY,
            summary=(
                f"Refund {amount} through the payment provider"
                if grant.destination == Destination.original
                else f"Pay the refund of {amount}"
            ),
        )
        self._sending = None
        early, self._early_event = self._early_event, None
        if early is not None and not self._refund_final() and workflow.patched(EARLY_WEBHOOK):
            self._apply_status(early)
        self.show_details()
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
            start_to_close_timeout=DB_WRITE,
            summary=f"Book the {refund.status} refund of {amount} on the order",
        )
        if refund.status == "succeeded":
            self._refunded_amount += grant.amount
            self._paid_amount = grant.amount
            await self.transition(
                "refund_settled",
                TicketStatus.completed,
                f"refund of {amount} settled at {refund.provider} ({refund.provider_refund_id})",
                data={"provider_refund_id": refund.provider_refund_id, "amount": grant.amount},
                next_actor=None,
            )
        else:
            await self.refund_not_paid(grant, refund)

    async def refund_not_paid(self, grant: c.Grant, refund: c.RefundState) -> None:
        if refund.status == "reversed":
            await self.reversed_to_support(refund)
            return
        await self.transition(
            "refund_failed",
            TicketStatus.refund_failed,
            f"the payment provider refused the refund: {refund.failure_reason}",
            data={"provider_refund_id": refund.provider_refund_id},
            next_actor=Actor.support,
        )

    async def reversed_to_support(self, refund: c.RefundState) -> None:
        """The money came back after the refund succeeded: it is owed again."""
        await self.transition(
            "refund_reversed",
            TicketStatus.refund_failed,
            f"the refund ({refund.provider_refund_id}) came back after it succeeded: "
            f"{refund.failure_reason or 'returned by the bank'}; support sends it again",
            data={"provider_refund_id": refund.provider_refund_id},
            next_actor=Actor.support,
        )

    async def _await_settlement(self, grant: c.Grant, overdue_at: datetime) -> None:
        """Webhooks arrive as signals; when none comes, ask the provider now and then."""
        alerted = False
        while not self._refund_final():
            try:
                await workflow.wait_condition(
                    self._refund_final, timeout=self._ticket.policy.refund_status_poll
                )
            except TimeoutError:
                self._refund_source = "poll"
                self._refund = await workflow.execute_activity(
                    c.CHECK_REFUND,
                    c.RefundExecution(
                        ticket_no=grant.ticket_no, idempotency_key=grant.idempotency_key
                    ),
                    result_type=c.RefundState,
                    start_to_close_timeout=_PROVIDER_CALL,
                    heartbeat_timeout=_PROVIDER_HEARTBEAT,
                    retry_policy=_PROVIDER_RETRY,
                    summary="Ask the payment provider for the refund's status",
                )
                # Succeeded and already sent back (its webhooks missed): nothing will settle it.
                if self._refund.status == "reversed" and workflow.patched(REVERSED_WHILE_SETTLING):
                    return
            if not alerted and not self._refund_final() and workflow.now() >= overdue_at:
                alerted = True
                await self.transition(
                    "settlement_overdue",
                    TicketStatus.refunding,
                    "refund still pending at the provider past its settlement deadline: "
                    "support alerted, reconciliation continues",
                    next_actor=Actor.support,
                )

    async def book_reversal(self) -> None:
        """Book the money that came back, on the refund, the ticket and the order."""
        reversal, refund = self._reversal, self._refund
        assert reversal is not None and refund is not None
        self._reversal = None
        self._refund = refund.model_copy(
            update={"status": "reversed", "failure_reason": reversal.failure_reason}
        )
        await workflow.execute_activity(
            c.SETTLE_REFUND,
            c.Settlement(
                ticket_no=self._ticket.ticket_no,
                idempotency_key=refund.idempotency_key,
                status="reversed",
                failure_reason=reversal.failure_reason,
                source="webhook",
            ),
            start_to_close_timeout=DB_WRITE,
            summary="Book the refund the bank sent back",
        )

    def _refund_final(self) -> bool:
        return self._refund is not None and self._refund.status in _FINAL_REFUND_STATES
