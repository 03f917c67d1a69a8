"""The warehouse checks the returned goods in: passed, failed, or never checked in.

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
    from domain.tickets import Actor, TicketStatus, TicketType

from workflows import outcomes
from workflows.actor_inbox import ActorInbox
from workflows.automation import Automation
from workflows.exchange_steps import ExchangeSteps
from workflows.refund_ledger import RefundLedger
from workflows.refund_steps import RefundSteps
from workflows.ticket_record import TicketRecord

ESCALATE = "escalate to support"
E = TicketEvent


class InspectionSteps:
    def __init__(
        self,
        ticket: c.TicketInput,
        record: TicketRecord,
        inbox: ActorInbox,
        automation: Automation,
        ledger: RefundLedger,
        refunds: RefundSteps,
        exchange: ExchangeSteps,
    ) -> None:
        self._ticket = ticket
        self._policy = ticket.policy
        self._record = record
        self._inbox = inbox
        self._automation = automation
        self._ledger = ledger
        self._refunds = refunds
        self._exchange = exchange

    async def inspection_step(self) -> None:
        taken = await self._inbox.take(self._record.deadline_at)
        if taken is not None:
            await self.inspected(taken[1])
            return
        waited = describe(self._policy.warehouse_checkin)
        blockers = await self._automation.blockers(review=False)
        if blockers:
            await outcomes.to_support(
                self._record,
                E.escalated_instead_of_auto_acceptance,
                f"escalated to support instead of accepting automatically: the warehouse did "
                f"not check the parcel in within {waited} of delivery; " + "; ".join(blockers),
            )
            return
        reason = (
            "accepted automatically: the warehouse did not check the parcel in within "
            f"{waited} of delivery"
        )
        if self._ticket.type is TicketType.exchange:
            await self._exchange.accepted(E.checkin_timeout, reason, Actor.system, None)
        else:
            await self._refunds.pay(E.checkin_timeout, reason, service_fee=self._ledger.service_fee)

    async def inspected(self, request: c.Inspection) -> None:
        passed = all(line.rejected == 0 for line in request.lines)
        record = c.InspectionRecord(
            warehouse_id=request.actor_id,
            inspector_id=request.actor_id,
            lines=request.lines,
            notes=request.note,
            photos=request.photos,
            passed=passed,
            at=workflow.now(),
        )
        accepted = sum(line.accepted for line in request.lines)
        rejected = sum(line.rejected for line in request.lines)
        notes = f": {request.note}" if request.note else ""
        if not passed:
            await self._record.transition(
                E.inspection_failed,
                TicketStatus.inspection_failed,
                f"inspection failed: {rejected} of {accepted + rejected} unit(s) rejected{notes}",
                data={"lines": [line.model_dump() for line in request.lines]},
                next_actor=Actor.merchant,
                deadline_at=workflow.now() + self._policy.resolve_inspection,
                on_timeout=ESCALATE,
                actor=Actor.warehouse,
                actor_id=request.actor_id,
                inspection=record,
            )
        elif self._ticket.type is TicketType.exchange:
            await self._exchange.accepted(
                E.inspection_passed,
                f"inspection passed: {accepted} unit(s) accepted{notes}",
                Actor.warehouse,
                request.actor_id,
                inspection=record,
            )
        else:
            await self._refunds.pay(
                E.inspection_passed,
                f"inspection passed: {accepted} unit(s) accepted{notes}",
                service_fee=self._ledger.service_fee,
                actor=Actor.warehouse,
                actor_id=request.actor_id,
                inspection=record,
            )

    async def failed_inspection_step(self) -> None:
        taken = await self._inbox.take(self._record.deadline_at)
        if taken is None:
            await outcomes.to_support(
                self._record,
                E.resolve_inspection_timeout,
                "escalated to support: the merchant did not resolve the failed inspection within "
                + describe(self._policy.resolve_inspection),
            )
            return
        action, request = taken
        if action is Action.escalate:
            await outcomes.escalated_by(self._record, request)
        elif request.decision == "partial_refund":
            amount = format_minor(request.amount, self._ticket.currency)
            await self._refunds.pay(
                E.inspection_resolved_partial_refund,
                f"the merchant offers a partial refund of {amount} after the failed inspection",
                actor=Actor.merchant,
                actor_id=request.actor_id,
                requested_amount=request.amount,
            )
        else:
            await outcomes.reject(
                self._record,
                E.inspection_resolved_return_to_buyer,
                "the merchant sends the goods back to the buyer without refund"
                + (f": {request.note}" if request.note else ""),
                Actor.merchant,
                request.actor_id,
                self._policy.buyer_after_rejection,
            )
