"""Exchange: the goods are back and accepted; a replacement for another item first settles its
price difference (a cheaper one refunds it, a dearer one waits for the buyer's payment); then the
merchant reships and the buyer confirms receipt.

Changes the record (through transitions) and the difference payment; pays through the refund
steps.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import contracts as c
    from domain.actions import Action
    from domain.durations import describe
    from domain.events import TicketEvent
    from domain.money import format_minor
    from domain.tickets import Actor, TicketStatus

from workflows import outcomes
from workflows.actor_inbox import ActorInbox
from workflows.refund_ledger import RefundLedger
from workflows.refund_steps import RefundSteps
from workflows.ticket_record import TicketRecord

E = TicketEvent
REFUND_INSTEAD = "refund the returned goods instead"


class ExchangeSteps:
    def __init__(
        self,
        ticket: c.TicketInput,
        record: TicketRecord,
        inbox: ActorInbox,
        ledger: RefundLedger,
        refunds: RefundSteps,
    ) -> None:
        self._ticket = ticket
        self._policy = ticket.policy
        self._record = record
        self._inbox = inbox
        self._ledger = ledger
        self._refunds = refunds
        # The platform's confirmation that the buyer paid a dearer replacement's difference.
        self.payment: c.DifferencePayment | None = None
        # A cheaper replacement's difference is being refunded; once it settles, the merchant
        # ships (not for a refund sent again after the replacement went out).
        self.reship_after_refund = False

    def _money(self, amount: int) -> str:
        return format_minor(amount, self._ticket.currency)

    def apply_payment(self, payment: c.DifferencePayment) -> None:
        """The first payment of the amount due counts; the platform may confirm it early (the
        buyer paid while the goods were on their way back) or more than once."""
        terms = self._ticket.exchange
        if self.payment is not None or terms is None:
            return
        if payment.amount != terms.due or payment.currency != terms.currency:
            workflow.logger.warning(
                "difference payment %s of %s %s ignored: %s %s is due",
                payment.reference,
                payment.amount,
                payment.currency,
                terms.due,
                terms.currency,
            )
            return
        self.payment = payment

    async def accepted(
        self, event: TicketEvent, reason: str, actor: Actor, actor_id: str | None, **extra: Any
    ) -> None:
        """The returned goods are accepted: settle the replacement's difference, then reship."""
        terms = self._ticket.exchange
        if terms is None or terms.direction == "none":
            await self.await_reship(event, reason, actor, actor_id, **extra)
        elif terms.direction == "refund":
            self.reship_after_refund = True
            await self._refunds.pay(
                event,
                f"{reason}; the replacement is cheaper ({terms.describe()}): the difference of "
                f"{self._money(terms.refund)} is refunded before the merchant ships it",
                actor=actor,
                actor_id=actor_id,
                service_fee=self._ledger.service_fee,
                price_difference=True,
                **extra,
            )
        else:
            await self._record.transition(
                event,
                TicketStatus.awaiting_difference_payment,
                f"{reason}; the replacement is dearer ({terms.describe()}): the buyer pays the "
                f"difference of {self._money(terms.due)} before the merchant ships it",
                data={"difference": terms.difference, "currency": terms.currency},
                actor=actor,
                actor_id=actor_id,
                next_actor=Actor.buyer,
                deadline_at=workflow.now() + self._policy.difference_payment,
                on_timeout=REFUND_INSTEAD,
                **extra,
            )

    async def difference_declined(self, declined: str, actor_id: str | None) -> bool:
        """Support declined, as second approver, the refund of a cheaper replacement's
        difference: nothing is refunded, but the goods are back and accepted, so the replacement
        is shipped all the same (the buyer may escalate). False for a difference refund sent
        again after the replacement went out: that one is declined as any refund is."""
        if not self.reship_after_refund:
            return False
        await self.await_reship(
            E.difference_refund_declined,
            f"{declined}: the difference is not refunded",
            Actor.support,
            actor_id,
        )
        return True

    async def difference_step(self) -> None:
        """Wait for the platform's word that the buyer paid; without it, refund the goods."""
        terms = self._ticket.exchange
        assert terms is not None
        taken = await self._inbox.take(
            self._record.deadline_at,
            also=lambda: self.payment is not None,
            also_means="the buyer's payment of the difference",
        )
        if taken is not None:
            await outcomes.escalated_by(self._record, taken[1])
            return
        due = self._money(terms.due)
        if self.payment is None:
            await self._refunds.pay(
                E.difference_payment_timeout,
                f"the buyer did not pay the difference of {due} within "
                f"{describe(self._policy.difference_payment)}: the returned goods are refunded "
                "instead of exchanged",
            )
            return
        payment = self.payment
        await self.await_reship(
            E.difference_paid,
            f"the platform confirmed the buyer paid the difference of {due} "
            f"(payment {payment.reference})",
            Actor.platform,
            None,
            data={
                "reference": payment.reference,
                "amount": payment.amount,
                "currency": payment.currency,
                "paid_at": payment.paid_at.isoformat(),
            },
        )

    async def await_reship(
        self, event: TicketEvent, reason: str, actor: Actor, actor_id: str | None, **extra: Any
    ) -> None:
        self.reship_after_refund = False
        await self._record.transition(
            event,
            TicketStatus.awaiting_reship,
            f"{reason}; the merchant ships the replacement",
            actor=actor,
            actor_id=actor_id,
            next_actor=Actor.merchant,
            deadline_at=workflow.now() + self._policy.reship,
            on_timeout="escalate to support",
            **extra,
        )

    async def reship_step(self) -> None:
        taken = await self._inbox.take(self._record.deadline_at)
        if taken is None:
            await outcomes.to_support(
                self._record,
                E.reship_timeout,
                "escalated to support: the merchant did not ship the replacement within "
                + describe(self._policy.reship),
            )
            return
        action, request = taken
        if action is Action.escalate:
            await outcomes.escalated_by(self._record, request)
            return
        parcel = c.ShipmentRecord(
            direction="replacement",
            carrier=request.carrier,
            tracking_no=request.tracking_no,
            shipped_at=workflow.now(),
        )
        await self._record.transition(
            E.replacement_shipped,
            TicketStatus.replacement_in_transit,
            f"the merchant shipped the replacement with {request.carrier} {request.tracking_no}",
            actor=Actor.merchant,
            actor_id=request.actor_id,
            next_actor=Actor.buyer,
            deadline_at=workflow.now() + self._policy.confirm_receipt,
            on_timeout="complete automatically",
            shipment=parcel,
        )

    async def receipt_step(self) -> None:
        taken = await self._inbox.take(self._record.deadline_at)
        if taken is None:
            await self._record.transition(
                E.receipt_timeout,
                TicketStatus.completed,
                "completed automatically: the buyer did not confirm receipt within "
                f"{describe(self._policy.confirm_receipt)} of reshipment",
                next_actor=None,
            )
            return
        action, request = taken
        if action is Action.escalate:
            await outcomes.escalated_by(self._record, request)
            return
        await self._record.transition(
            E.receipt_confirmed,
            TicketStatus.completed,
            "the buyer confirmed receipt of the replacement",
            actor=Actor.buyer,
            actor_id=request.actor_id,
            next_actor=None,
        )
