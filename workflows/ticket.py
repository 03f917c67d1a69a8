"""The after-sales ticket: one workflow per ticket, owning its state, deadlines and side effects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import contracts as c
    from domain.actions import Action
    from domain.reasons import is_merchant_fault
    from domain.tickets import TERMINAL_STATUSES, Destination, TicketStatus, TicketType

from workflows.actor_inbox import ILLEGAL_TRANSITION, INVALID_ACTION, VERSION_CONFLICT, invalid
from workflows.exchange_steps import ExchangeSteps

__all__ = ["ILLEGAL_TRANSITION", "INVALID_ACTION", "VERSION_CONFLICT", "TicketWorkflow"]

# Tickets opened before the risk check existed approve a refund before shipment unchecked.
RISK_CHECK_BEFORE_RULE_APPROVAL = "risk-check-before-rule-approval"
# Tickets whose refund failed used to end there; now they wait for support to retry.
RETRY_FAILED_REFUND = "retry-failed-refund"
# A refund reversed after success used to be ignored; now it reopens the ticket for support.
REFUND_REVERSAL = "refund-reversal"
S = TicketStatus
DESTINATIONS = frozenset(Destination)


@workflow.defn
class TicketWorkflow(ExchangeSteps):
    @workflow.init
    def __init__(self, ticket: c.TicketInput) -> None:
        super().__init__(ticket)
        self._steps: dict[TicketStatus, Callable[[], Awaitable[None]]] = {
            S.awaiting_merchant_review: self.review_step,
            S.awaiting_second_approval: self.second_approval_step,
            S.refunding: self.refunding_step,
            S.refund_failed: self.refund_failed_step,
            S.rejected: self.rejected_step,
            S.under_arbitration: self.arbitration_step,
            S.awaiting_buyer_return: self.buyer_return_step,
            S.return_in_transit: self.return_transit_step,
            S.awaiting_inspection: self.inspection_step,
            S.inspection_failed: self.failed_inspection_step,
            S.awaiting_reship: self.reship_step,
            S.replacement_in_transit: self.receipt_step,
        }
        if ticket.reopened is not None:
            self.resume(ticket.reopened)

    @workflow.run
    async def run(self, ticket: c.TicketInput) -> c.TicketResult:
        if ticket.reopened is not None:
            # Started again by the provider's `refund.reversed`, which arrives with the start.
            await workflow.wait_condition(lambda: self._reversal is not None)
        elif ticket.type is TicketType.refund_only and not ticket.order_shipped:
            await self._refund_before_shipment()
        else:
            await self.open_for_review()
        while True:
            # Each waiting state races its actors against its deadline, then moves the ticket on.
            while self._status not in TERMINAL_STATUSES:
                if self._status is S.refund_failed and not workflow.patched(RETRY_FAILED_REFUND):
                    break  # tickets from before support could retry ended here
                await self._steps[self._status]()
            await workflow.wait_condition(workflow.all_handlers_finished)
            await self.deliveries_finished()
            if self._reversal is None or not workflow.patched(REFUND_REVERSAL):
                break
            await self.refund_reversed()
        return c.TicketResult(
            ticket_no=ticket.ticket_no, status=self._status, refunded_amount=self._refunded_amount
        )

    async def _refund_before_shipment(self) -> None:
        if workflow.patched(RISK_CHECK_BEFORE_RULE_APPROVAL):
            blockers = self.automation_blockers(await self.assess_risk(), review=False)
            if blockers:
                await self.to_support(
                    "escalated_instead_of_auto_approval",
                    "escalated to support instead of approval by rule: " + "; ".join(blockers),
                )
                return
        await self.pay(
            "approved_by_rule",
            "approved automatically: a refund before shipment needs no merchant review",
            close_on_refusal=True,
        )

    # --- external events ---------------------------------------------------------------------

    @workflow.signal
    def payment_event(self, event: c.PaymentSignal) -> None:
        self.apply_payment_event(event)

    @workflow.signal
    def tracking_event(self, event: c.TrackingSignal) -> None:
        self.apply_tracking_event(event)

    # --- actor actions: Updates, refused by their validators before anything is written ------

    @workflow.update
    async def approve(self, request: c.Approve) -> c.ActionResult:
        return await self.accept(Action.approve, request)

    @approve.validator
    def _check_approve(self, request: c.Approve) -> None:
        self.expect(Action.approve, request)
        if request.service_fee and is_merchant_fault(self._ticket.reason_code):
            raise invalid(
                "service_fee_not_allowed",
                f"no service fee on a merchant-fault reason ({self._ticket.reason_code})",
            )
        if request.service_fee > self._ticket.quoted_amount:
            raise invalid(
                "service_fee_out_of_range",
                f"the service fee {request.service_fee} exceeds the refund "
                f"{self._ticket.quoted_amount}",
            )

    @workflow.update
    async def reject(self, request: c.Reject) -> c.ActionResult:
        return await self.accept(Action.reject, request)

    @reject.validator
    def _check_reject(self, request: c.Reject) -> None:
        self.expect(Action.reject, request)

    @workflow.update
    async def return_shipment(self, request: c.Shipping) -> c.ActionResult:
        return await self.accept(Action.return_shipment, request)

    @return_shipment.validator
    def _check_return_shipment(self, request: c.Shipping) -> None:
        self.expect(Action.return_shipment, request)

    @workflow.update
    async def cancel(self, request: c.Cancel) -> c.ActionResult:
        return await self.accept(Action.cancel, request)

    @cancel.validator
    def _check_cancel(self, request: c.Cancel) -> None:
        self.expect(Action.cancel, request)

    @workflow.update
    async def escalate(self, request: c.Escalate) -> c.ActionResult:
        return await self.accept(Action.escalate, request)

    @escalate.validator
    def _check_escalate(self, request: c.Escalate) -> None:
        self.expect(Action.escalate, request)

    @workflow.update
    async def inspection(self, request: c.Inspection) -> c.ActionResult:
        return await self.accept(Action.inspection, request)

    @inspection.validator
    def _check_inspection(self, request: c.Inspection) -> None:
        self.expect(Action.inspection, request)
        found = {line.line_id: line.accepted + line.rejected for line in request.lines}
        if len(found) != len(request.lines) or found != self._ticket.lines:
            expected = ", ".join(f"{k} x{v}" for k, v in self._ticket.lines.items())
            raise invalid(
                "inspection_lines_mismatch",
                "inspect every returned unit once: accepted + rejected per line must be "
                + expected,
            )

    @workflow.update
    async def resolve_inspection(self, request: c.ResolveInspection) -> c.ActionResult:
        return await self.accept(Action.resolve_inspection, request)

    @resolve_inspection.validator
    def _check_resolve_inspection(self, request: c.ResolveInspection) -> None:
        self.expect(Action.resolve_inspection, request)
        if request.decision == "partial_refund":
            self._check_amount(request.amount)

    @workflow.update
    async def reship(self, request: c.Shipping) -> c.ActionResult:
        return await self.accept(Action.reship, request)

    @reship.validator
    def _check_reship(self, request: c.Shipping) -> None:
        self.expect(Action.reship, request)

    @workflow.update
    async def confirm_receipt(self, request: c.ConfirmReceipt) -> c.ActionResult:
        return await self.accept(Action.confirm_receipt, request)

    @confirm_receipt.validator
    def _check_confirm_receipt(self, request: c.ConfirmReceipt) -> None:
        self.expect(Action.confirm_receipt, request)

    @workflow.update
    async def arbitrate(self, request: c.Arbitration) -> c.ActionResult:
        return await self.accept(Action.arbitrate, request)

    @arbitrate.validator
    def _check_arbitrate(self, request: c.Arbitration) -> None:
        self.expect(Action.arbitrate, request)
        if request.decision == "partial_refund":
            self._check_amount(request.amount)

    @workflow.update
    async def retry_refund(self, request: c.RetryRefund) -> c.ActionResult:
        return await self.accept(Action.retry_refund, request)

    @retry_refund.validator
    def _check_retry_refund(self, request: c.RetryRefund) -> None:
        self.expect(Action.retry_refund, request)
        if request.destination is not None and request.destination not in DESTINATIONS:
            raise invalid("destination_not_available", f"no destination {request.destination}")
        details = request.destination_details or {}
        if request.destination == Destination.bank_transfer and not details.get("iban"):
            raise invalid("bank_account_required", "a bank transfer needs the buyer's account")

    @workflow.update
    async def second_approval(self, request: c.SecondApproval) -> c.ActionResult:
        return await self.accept(Action.second_approval, request)

    @second_approval.validator
    def _check_second_approval(self, request: c.SecondApproval) -> None:
        self.expect(Action.second_approval, request)

    def _check_amount(self, amount: int | None) -> None:
        if amount is None or amount <= 0:
            raise invalid("amount_required", "a partial refund needs an amount above zero")
        if amount > self._ticket.quoted_amount:
            raise invalid(
                "amount_exceeds_maximum",
                f"{amount} is more than the ticket's refund of {self._ticket.quoted_amount}",
            )

    @workflow.query
    def state(self) -> dict[str, Any]:
        return {
            "status": self._status,
            "version": self._version,
            "next_actor": self._next_actor,
            "deadline_at": self._deadline_at,
            "on_timeout": self._on_timeout,
            "risk": self._risk.model_dump() if self._risk else None,
            "refund": self._refund.model_dump() if self._refund else None,
        }
