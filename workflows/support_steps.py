"""Support and arbitration: after a rejection the buyer escalates or lets the ticket close;
support decides an escalated ticket.

Changes the record (through transitions); pays through the refund steps.
"""

from __future__ import annotations

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
from workflows.refund_steps import RefundSteps
from workflows.ticket_record import TicketRecord

E = TicketEvent


class SupportSteps:
    def __init__(
        self,
        ticket: c.TicketInput,
        record: TicketRecord,
        inbox: ActorInbox,
        refunds: RefundSteps,
    ) -> None:
        self._ticket = ticket
        self._policy = ticket.policy
        self._record = record
        self._inbox = inbox
        self._refunds = refunds

    async def rejected_step(self) -> None:
        taken = await self._inbox.take(self._record.deadline_at)
        if taken is None:
            await self._record.transition(
                E.closed_after_rejection,
                TicketStatus.closed,
                "closed automatically: the buyer neither escalated nor re-applied within "
                + describe(self._policy.buyer_after_rejection),
                next_actor=None,
            )
        elif taken[0] is Action.escalate:
            await outcomes.escalated_by(self._record, taken[1])
        else:
            await outcomes.withdraw(self._record, taken[1])

    async def arbitration_step(self) -> None:
        _, ruling = await self._inbox.next()
        note = f": {ruling.note}" if ruling.note else ""
        by = {"actor": Actor.support, "actor_id": ruling.actor_id}
        match ruling.decision:
            case "refund":
                await self._refunds.pay(
                    E.arbitrated_refund, f"support decided a full refund{note}", **by
                )
            case "partial_refund":
                amount = format_minor(ruling.amount, self._ticket.currency)
                await self._refunds.pay(
                    E.arbitrated_partial_refund,
                    f"support decided a partial refund of {amount}{note}",
                    requested_amount=ruling.amount,
                    **by,
                )
            case "reject":
                await self._record.transition(
                    E.arbitrated_reject,
                    TicketStatus.closed,
                    f"support rejected the claim{note}",
                    next_actor=None,
                    **by,
                )
            case "return_to_buyer":
                await self._record.transition(
                    E.arbitrated_return_to_buyer,
                    TicketStatus.closed,
                    "support decided the goods go back to the buyer, without refund" + note,
                    next_actor=None,
                    **by,
                )
