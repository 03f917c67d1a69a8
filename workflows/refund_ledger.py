"""The ticket's money: grants, the refund at the provider, its settlement and reversal.

Only this part writes these fields; the refund steps drive it, payment signals feed it.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import contracts as c
    from contracts import search_attributes as sa
    from domain.money import format_minor
    from domain.tickets import FINAL_REFUND_STATUSES, RefundStatus, refund_idempotency_key

from workflows.timeouts import DB_RETRY, DB_WRITE, HEARTBEAT, PROVIDER_CALL, PROVIDER_RETRY

# A webhook that arrived while the refund was still being sent used to be dropped (the poll settled
# the refund later); now it is applied once the call returns.
EARLY_WEBHOOK = "early-webhook"


class RefundLedger:
    def __init__(self, ticket: c.TicketInput) -> None:
        self._ticket = ticket
        self.refund_seq = 0
        self.grant: c.Grant | None = None
        # The provider's view of the refund being paid, as last seen.
        self.refund: c.RefundState | None = None
        # Where the refund's final status was learned: execute, webhook or poll.
        self.source = "execute"
        # The fee the merchant set at approval, charged when the refund is granted.
        self.service_fee = 0
        # A merchant rule's store-credit bonus (percent) on a refund to the buyer's balance.
        self.bonus_percent: int | None = None
        # The terms of the last refund granted, so support can send it again after a failure.
        self.terms: dict[str, Any] = {}
        self.refunded_amount = 0
        # What the last succeeded refund paid, taken back if the bank reverses it.
        self.paid_amount = 0
        # The bank sent a succeeded refund back (`refund.reversed`): the ticket reopens.
        self.reversal: c.PaymentSignal | None = None
        self._seen_events: set[str] = set()
        # The key of the refund being sent, and its webhook if one came before the call returned.
        self._sending: str | None = None
        self._early_event: c.PaymentSignal | None = None

    def resume(self, reopened: c.Reopening) -> None:
        self.refund_seq = reopened.refund_seq
        self.refunded_amount = reopened.refunded_amount
        self.refund = reopened.refund
        self.paid_amount = reopened.amount
        self.terms = {
            "service_fee": reopened.service_fee,
            "requested_amount": reopened.requested_amount,
            "lines": reopened.lines,
        }
        if reopened.destination is not None:
            self.terms["destination"] = reopened.destination
        if reopened.price_difference:
            self.terms["price_difference"] = True

    def details(self) -> list[tuple[str, str]]:
        refund = self.refund
        if refund is None:
            return [("Refund", "not started")]
        accepted = refund.provider_refund_id or "not yet accepted"
        lines = [("Refund", f"{refund.status} at {refund.provider} ({accepted})")]
        currency = self.grant.currency if self.grant is not None else self._ticket.currency
        if self.grant is not None:
            lines.append(("Refund amount", format_minor(self.grant.amount, currency)))
            grant = self.grant
            if grant.bonus_amount:
                bonus = format_minor(grant.bonus_amount, grant.bonus_currency or currency)
                lines.append(("Store credit bonus", f"{bonus} ({self.bonus_percent} %)"))
        if self.refunded_amount:
            lines.append(("Refunded so far", format_minor(self.refunded_amount, currency)))
        return lines

    def agree_fee(self, service_fee: int) -> None:
        """The fee the merchant set at approval, charged when the goods are back."""
        self.service_fee = service_fee

    def drop_refund(self) -> c.RefundState | None:
        """Forget the refund that did not pay, before another one is granted."""
        dropped, self.refund = self.refund, None
        return dropped

    def final(self) -> bool:
        return self.refund is not None and self.refund.status in FINAL_REFUND_STATUSES

    # --- payment signals -------------------------------------------------------------------

    def apply_payment_event(self, event: c.PaymentSignal) -> None:
        # Providers redeliver webhooks; an event seen once changes nothing the second time.
        if event.event_id in self._seen_events:
            return
        self._seen_events.add(event.event_id)
        if self.refund is None:
            if event.idempotency_key == self._sending and event.status != RefundStatus.reversed:
                self._early_event = event  # the provider was faster than its own answer
            return
        if event.idempotency_key != self.refund.idempotency_key:
            return
        if event.status == RefundStatus.reversed:
            if self.refund.status == RefundStatus.succeeded:
                self.reversal = event
            return
        if self.refund.status in FINAL_REFUND_STATUSES:
            return
        self._apply_status(event)

    def _apply_status(self, event: c.PaymentSignal) -> None:
        assert self.refund is not None
        self.source = "webhook"
        self.refund = self.refund.model_copy(
            update={
                "status": event.status,
                "failure_reason": event.failure_reason,
                "provider_refund_id": event.provider_refund_id,
            }
        )

    # --- activities ------------------------------------------------------------------------

    async def grant_next(self, **terms: Any) -> c.Grant:
        """Record what is owed under the next refund sequence, before any money moves.

        `terms`: service_fee, requested_amount, lines, destination, price_difference (of
        `c.GrantRequest`)."""
        self.refund_seq += 1
        self.terms = {
            key: terms.get(key)
            for key in ("service_fee", "requested_amount", "lines", "price_difference")
        }
        if terms.get("destination") is not None:
            self.terms["destination"] = terms["destination"]
        if self.bonus_percent:
            terms["bonus_percent"] = self.bonus_percent
        seq = self.refund_seq
        ticket_no = self._ticket.ticket_no
        grant = await workflow.execute_activity(
            c.GRANT_REFUND,
            c.GrantRequest(
                ticket_no=ticket_no,
                refund_seq=seq,
                idempotency_key=refund_idempotency_key(ticket_no, seq),
                **{key: value for key, value in terms.items() if value is not None},
            ),
            result_type=c.Grant,
            start_to_close_timeout=DB_WRITE,
            retry_policy=DB_RETRY,
            summary=f"Record the refund owed on {self._ticket.order_id} (refund #{seq})",
        )
        workflow.upsert_search_attributes([sa.REFUND_AMOUNT.value_set(grant.amount)])
        self.grant = grant
        return grant

    async def void(self, reason: str) -> None:
        grant = self.grant
        assert grant is not None
        await workflow.execute_activity(
            c.VOID_GRANT,
            c.Settlement(
                ticket_no=grant.ticket_no,
                idempotency_key=grant.idempotency_key,
                status=RefundStatus.voided,
                failure_reason=reason,
                source="workflow",
            ),
            start_to_close_timeout=DB_WRITE,
            retry_policy=DB_RETRY,
            summary=f"Void refund #{grant.refund_seq}: no money moves",
        )

    async def execute(self, summary: str) -> None:
        """Send the granted refund under its key; apply a webhook that beat the answer."""
        grant = self.grant
        assert grant is not None
        self.source = "execute"
        self._sending = grant.idempotency_key
        self.refund = await self._ask_provider(c.EXECUTE_REFUND, grant, summary)
        self._sending = None
        early, self._early_event = self._early_event, None
        if early is not None and not self.final() and workflow.patched(EARLY_WEBHOOK):
            self._apply_status(early)

    async def check(self) -> None:
        grant = self.grant
        assert grant is not None
        self.source = "poll"
        summary = "Ask the payment provider for the refund's status"
        self.refund = await self._ask_provider(c.CHECK_REFUND, grant, summary)

    async def _ask_provider(self, activity: str, grant: c.Grant, summary: str) -> c.RefundState:
        return await workflow.execute_activity(
            activity,
            c.RefundExecution(ticket_no=grant.ticket_no, idempotency_key=grant.idempotency_key),
            result_type=c.RefundState,
            start_to_close_timeout=PROVIDER_CALL,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=PROVIDER_RETRY,
            summary=summary,
        )

    def settlement(self) -> c.Settlement:
        """The provider's final word on the refund, as it is booked on the refund, the ticket
        and the order."""
        grant, refund = self.grant, self.refund
        assert grant is not None and refund is not None
        return c.Settlement(
            ticket_no=grant.ticket_no,
            idempotency_key=grant.idempotency_key,
            status=refund.status,
            failure_reason=refund.failure_reason,
            source=self.source,
        )

    def count_booked(self) -> None:
        """The settlement is booked: a refund that succeeded counts as refunded."""
        grant, refund = self.grant, self.refund
        assert grant is not None and refund is not None
        if refund.status == RefundStatus.succeeded:
            self.refunded_amount += grant.amount
            self.paid_amount = grant.amount

    async def settle(self, summary: str) -> c.RefundState:
        """Book the provider's final word on the refund, ticket and order."""
        refund = self.refund
        assert refund is not None
        await workflow.execute_activity(
            c.SETTLE_REFUND,
            self.settlement(),
            start_to_close_timeout=DB_WRITE,
            retry_policy=DB_RETRY,
            summary=summary,
        )
        self.count_booked()
        return refund

    async def book_reversal(self) -> c.RefundState:
        """Book the money that came back, on the refund, the ticket and the order."""
        reversal, refund = self.reversal, self.refund
        assert reversal is not None and refund is not None
        self.reversal = None
        self.refund = refund.model_copy(
            update={"status": RefundStatus.reversed, "failure_reason": reversal.failure_reason}
        )
        await workflow.execute_activity(
            c.SETTLE_REFUND,
            c.Settlement(
                ticket_no=self._ticket.ticket_no,
                idempotency_key=refund.idempotency_key,
                status=RefundStatus.reversed,
                failure_reason=reversal.failure_reason,
                source="webhook",
            ),
            start_to_close_timeout=DB_WRITE,
            retry_policy=DB_RETRY,
            summary="Book the refund the bank sent back",
        )
        self.refunded_amount -= self.paid_amount
        self.paid_amount = 0
        return self.refund
