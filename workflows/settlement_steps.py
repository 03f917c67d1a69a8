"""Settlement: the granted refund is sent, followed until the provider's final word, booked;
what did not pay goes to the balance or to support.

Changes the record (through transitions) and the refund ledger.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import contracts as c
    from domain.events import TicketEvent
    from domain.lateness import lateness
    from domain.money import format_minor
    from domain.tickets import (
        NO_LONGER_REFUNDABLE,
        Actor,
        Destination,
        RefundStatus,
        TicketStatus,
        describe_destination,
    )

from workflows.exchange_steps import ExchangeSteps
from workflows.refund_ledger import RefundLedger
from workflows.refund_steps import RefundSteps
from workflows.ticket_record import TicketRecord

# A refund the provider reported reversed while the ticket awaited settlement used to be polled
# forever; now it goes to support like a failed one.
REVERSED_WHILE_SETTLING = "reversed-while-settling"
# Refunds the provider refused as too old used to fail; now they go to the buyer's balance.
FALLBACK_TO_BALANCE = "fallback-to-balance"
# A refund that succeeded used to be booked by an activity of its own before the step that
# reports it was recorded; now one write books it and records the step.
SETTLED_WITH_ITS_STEP = "settled-with-its-step"
E = TicketEvent


class SettlementSteps:
    def __init__(
        self,
        ticket: c.TicketInput,
        record: TicketRecord,
        ledger: RefundLedger,
        refunds: RefundSteps,
        exchange: ExchangeSteps,
    ) -> None:
        self._policy = ticket.policy
        self._record = record
        self._ledger = ledger
        self._refunds = refunds
        self._exchange = exchange

    async def refunding_step(self) -> None:
        """Send the granted refund, wait for the provider's final word, book it."""
        ledger, record = self._ledger, self._record
        grant = ledger.grant
        assert grant is not None and record.deadline_at is not None
        overdue_at = record.deadline_at
        amount = format_minor(grant.amount, grant.currency)
        if grant.destination == Destination.original:
            await ledger.execute(f"Refund {amount} through the payment provider")
        else:
            amount += f" to {describe_destination(grant.destination)}"
            await ledger.execute(f"Pay the refund of {amount}")
        record.show_details()
        await self._await_settlement(overdue_at)
        refund = ledger.refund
        assert refund is not None
        settled = refund.status == RefundStatus.succeeded
        settlement: c.Settlement | None = None
        if settled and workflow.patched(SETTLED_WITH_ITS_STEP):
            ledger.count_booked()
            settlement = ledger.settlement()
        else:
            await ledger.settle(f"Book the {refund.status} refund of {amount} on the order")
        if settled:
            reason = (
                f"refund of {amount} settled at {refund.provider} ({refund.provider_refund_id})"
            )
            data = {"provider_refund_id": refund.provider_refund_id, "amount": grant.amount}
            if ledger.terms.get("price_difference") and self._exchange.reship_after_refund:
                # An exchange's price difference is back with the buyer: the replacement follows.
                await self._exchange.await_reship(
                    E.refund_settled,
                    reason,
                    Actor.system,
                    None,
                    data=data,
                    settlement=settlement,
                )
                return
            await record.transition(
                E.refund_settled,
                TicketStatus.completed,
                reason,
                data=data,
                next_actor=None,
                settlement=settlement,
            )
        else:
            await self._not_paid(grant, refund)

    async def _await_settlement(self, overdue_at: datetime) -> None:
        """Webhooks arrive as signals; when none comes, ask the provider now and then."""
        ledger = self._ledger
        alerted = False
        poll = self._policy.refund_status_poll
        while not ledger.final():
            # The deadline is checked at each poll: it is late only by as much as the poll was.
            due = max(workflow.now() + poll, overdue_at)
            late: timedelta | None = None
            try:
                await workflow.wait_condition(ledger.final, timeout=poll)
            except TimeoutError:
                late = lateness(due, workflow.now())
                await ledger.check()
                # Succeeded and already sent back (its webhooks missed): nothing will settle it.
                assert ledger.refund is not None
                if ledger.refund.status == RefundStatus.reversed and workflow.patched(
                    REVERSED_WHILE_SETTLING
                ):
                    return
            if not alerted and not ledger.final() and workflow.now() >= overdue_at:
                alerted = True
                self._record.applying_late(late)
                await self._record.transition(
                    E.settlement_overdue,
                    TicketStatus.refunding,
                    "refund still pending at the provider past its settlement deadline: "
                    "support alerted, reconciliation continues",
                    next_actor=Actor.support,
                )

    async def _not_paid(self, grant: c.Grant, refund: c.RefundState) -> None:
        if (
            refund.failure_code in NO_LONGER_REFUNDABLE
            and grant.destination == Destination.original
            and workflow.patched(FALLBACK_TO_BALANCE)
        ):
            # A payment that can no longer be refunded falls back to the buyer's balance.
            terms = self._ledger.terms
            self._ledger.drop_refund()
            await self._refunds.pay(
                E.refund_redirected_to_balance,
                "the original payment can no longer be refunded "
                f"({refund.failure_reason}): the refund goes to the buyer's store-credit "
                "balance instead",
                **{**terms, "destination": c.RefundDestination(kind=Destination.balance)},
            )
            return
        if refund.status == RefundStatus.reversed:
            await self._reversed_to_support(refund)
            return
        await self._record.transition(
            E.refund_failed,
            TicketStatus.refund_failed,
            f"the payment provider refused the refund: {refund.failure_reason}",
            data={"provider_refund_id": refund.provider_refund_id},
            next_actor=Actor.support,
        )

    async def _reversed_to_support(self, refund: c.RefundState) -> None:
        """The money came back after the refund succeeded: it is owed again."""
        await self._record.transition(
            E.refund_reversed,
            TicketStatus.refund_failed,
            f"the refund ({refund.provider_refund_id}) came back after it succeeded: "
            f"{refund.failure_reason or 'returned by the bank'}; support sends it again",
            data={"provider_refund_id": refund.provider_refund_id},
            next_actor=Actor.support,
        )

    async def refund_reversed(self) -> None:
        """The bank returned a refund after it succeeded (possibly after the ticket ended)."""
        await self._reversed_to_support(await self._ledger.book_reversal())
