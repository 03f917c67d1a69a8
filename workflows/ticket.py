"""The after-sales ticket: one workflow per ticket, owning its state, deadlines and side effects.

The class holds the run loop, the Update and Signal handlers and the query. The state lives in
parts that each own their fields (record, inbox, refund ledger, automation, return parcel); the
steps of each after-sales context receive the parts they use.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import contracts as c
    from domain.actions import Action
    from domain.tickets import TERMINAL_STATUSES, TicketStatus, TicketType

from workflows import action_checks as checks
from workflows.actor_inbox import ActorInbox
from workflows.automation import Automation
from workflows.exchange_steps import ExchangeSteps
from workflows.inspection_steps import InspectionSteps
from workflows.merchant_rules import MerchantRules
from workflows.refund_ledger import RefundLedger
from workflows.refund_steps import RefundSteps
from workflows.return_parcel import ReturnParcel
from workflows.return_steps import ReturnSteps
from workflows.review_steps import ReviewSteps
from workflows.settlement_steps import SettlementSteps
from workflows.support_steps import SupportSteps
from workflows.ticket_record import TicketRecord

# Tickets whose refund failed used to end there; now they wait for support to retry.
RETRY_FAILED_REFUND = "retry-failed-refund"
# A refund reversed after success used to be ignored; now it reopens the ticket for support.
REFUND_REVERSAL = "refund-reversal"
# The timeline and the ticket row used to be written by a local activity inside the workflow task,
# before Temporal held the step (a lost task left a step the history never had); now a regular
# activity writes them once the task that decided the step is committed.
RECORD_AFTER_COMMIT = "record-after-commit"
S = TicketStatus


@workflow.defn
class TicketWorkflow:
    @workflow.init
    def __init__(self, ticket: c.TicketInput) -> None:
        self._ticket = ticket
        self._record = record = TicketRecord(ticket)
        self._inbox = inbox = ActorInbox(record, reopened=ticket.reopened is not None)
        self._ledger = ledger = RefundLedger(ticket)
        self._automation = automation = Automation(ticket)
        rules = MerchantRules(ticket, record)
        self._parcel = ReturnParcel(record)
        record.add_details(ledger.details)
        record.add_details(automation.details)
        record.add_details(rules.details)
        self._refunds = refunds = RefundSteps(ticket, record, inbox, ledger)
        self._review = review = ReviewSteps(
            ticket, record, inbox, automation, rules, ledger, refunds
        )
        self._exchange = exchange = ExchangeSteps(ticket, record, inbox, ledger, refunds)
        refunds.difference_declined = exchange.difference_declined
        inspection = InspectionSteps(ticket, record, inbox, automation, ledger, refunds, exchange)
        returns = ReturnSteps(
            ticket, record, inbox, self._parcel, ledger, refunds, inspection, rules
        )
        support = SupportSteps(ticket, record, inbox, refunds)
        self._settlement = settlement = SettlementSteps(ticket, record, ledger, refunds, exchange)
        self._steps: dict[TicketStatus, Callable[[], Awaitable[None]]] = {
            S.awaiting_buyer_evidence: review.evidence_step,
            S.awaiting_merchant_review: review.review_step,
            S.awaiting_second_approval: refunds.second_approval_step,
            S.refunding: settlement.refunding_step,
            S.refund_failed: refunds.refund_failed_step,
            S.rejected: support.rejected_step,
            S.under_arbitration: support.arbitration_step,
            S.awaiting_buyer_return: returns.buyer_return_step,
            S.return_in_transit: returns.return_transit_step,
            S.awaiting_inspection: inspection.inspection_step,
            S.inspection_failed: inspection.failed_inspection_step,
            S.awaiting_difference_payment: exchange.difference_step,
            S.awaiting_reship: exchange.reship_step,
            S.replacement_in_transit: exchange.receipt_step,
        }
        if ticket.reopened is not None:
            record.resume(ticket.reopened)
            ledger.resume(ticket.reopened)

    @workflow.run
    async def run(self, ticket: c.TicketInput) -> c.TicketResult:
        record = self._record
        record.after_commit = workflow.patched(RECORD_AFTER_COMMIT)
        if ticket.reopened is not None:
            # Started again by the provider's `refund.reversed`, which arrives with the start.
            await workflow.wait_condition(lambda: self._ledger.reversal is not None)
        elif ticket.type is TicketType.refund_only and not ticket.order_shipped:
            await self._review.open_before_shipment()
        else:
            await self._review.open_for_review()
        self._inbox.step_done()
        while True:
            # Each waiting state races its actors against its deadline, then moves the ticket on.
            while record.status not in TERMINAL_STATUSES:
                if record.status is S.refund_failed and not workflow.patched(RETRY_FAILED_REFUND):
                    break  # tickets from before support could retry ended here
                await self._steps[record.status]()
                self._inbox.step_done()
            await workflow.wait_condition(workflow.all_handlers_finished)
            await record.deliveries_finished()
            await self._parcel.polls_stopped()
            if self._ledger.reversal is None or not workflow.patched(REFUND_REVERSAL):
                break
            await self._settlement.refund_reversed()
            self._inbox.step_done()
        return c.TicketResult(
            ticket_no=ticket.ticket_no,
            status=record.status,
            refunded_amount=self._ledger.refunded_amount,
        )

    # --- external events ---------------------------------------------------------------------

    @workflow.signal
    def payment_event(self, event: c.PaymentSignal) -> None:
        self._ledger.apply_payment_event(event)

    @workflow.signal
    def tracking_event(self, event: c.TrackingSignal) -> None:
        self._parcel.apply_tracking_event(event)

    @workflow.signal
    def difference_paid(self, payment: c.DifferencePayment) -> None:
        self._exchange.apply_payment(payment)

    # --- actor actions: Updates, refused by their validators before anything is written ------

    @workflow.update
    async def approve(self, request: c.Approve) -> c.ActionResult:
        return await self._inbox.accept(Action.approve, request)

    @approve.validator
    def _check_approve(self, request: c.Approve) -> None:
        self._inbox.check(Action.approve, request)
        checks.approve(self._ticket, request)

    @workflow.update
    async def reject(self, request: c.Reject) -> c.ActionResult:
        return await self._inbox.accept(Action.reject, request)

    @reject.validator
    def _check_reject(self, request: c.Reject) -> None:
        self._inbox.check(Action.reject, request)

    @workflow.update
    async def return_shipment(self, request: c.Shipping) -> c.ActionResult:
        return await self._inbox.accept(Action.return_shipment, request)

    @return_shipment.validator
    def _check_return_shipment(self, request: c.Shipping) -> None:
        self._inbox.check(Action.return_shipment, request)

    @workflow.update
    async def cancel(self, request: c.Cancel) -> c.ActionResult:
        return await self._inbox.accept(Action.cancel, request)

    @cancel.validator
    def _check_cancel(self, request: c.Cancel) -> None:
        self._inbox.check(Action.cancel, request)

    @workflow.update
    async def escalate(self, request: c.Escalate) -> c.ActionResult:
        return await self._inbox.accept(Action.escalate, request)

    @escalate.validator
    def _check_escalate(self, request: c.Escalate) -> None:
        self._inbox.check(Action.escalate, request)

    @workflow.update
    async def inspection(self, request: c.Inspection) -> c.ActionResult:
        return await self._inbox.accept(Action.inspection, request)

    @inspection.validator
    def _check_inspection(self, request: c.Inspection) -> None:
        self._inbox.check(Action.inspection, request)
        checks.inspection(self._ticket, request)

    @workflow.update
    async def resolve_inspection(self, request: c.ResolveInspection) -> c.ActionResult:
        return await self._inbox.accept(Action.resolve_inspection, request)

    @resolve_inspection.validator
    def _check_resolve_inspection(self, request: c.ResolveInspection) -> None:
        self._inbox.check(Action.resolve_inspection, request)
        checks.partial_amount(self._ticket, request)

    @workflow.update
    async def reship(self, request: c.Shipping) -> c.ActionResult:
        return await self._inbox.accept(Action.reship, request)

    @reship.validator
    def _check_reship(self, request: c.Shipping) -> None:
        self._inbox.check(Action.reship, request)

    @workflow.update
    async def confirm_receipt(self, request: c.ConfirmReceipt) -> c.ActionResult:
        return await self._inbox.accept(Action.confirm_receipt, request)

    @confirm_receipt.validator
    def _check_confirm_receipt(self, request: c.ConfirmReceipt) -> None:
        self._inbox.check(Action.confirm_receipt, request)

    @workflow.update
    async def arbitrate(self, request: c.Arbitration) -> c.ActionResult:
        return await self._inbox.accept(Action.arbitrate, request)

    @arbitrate.validator
    def _check_arbitrate(self, request: c.Arbitration) -> None:
        self._inbox.check(Action.arbitrate, request)
        checks.partial_amount(self._ticket, request)

    @workflow.update
    async def retry_refund(self, request: c.RetryRefund) -> c.ActionResult:
        return await self._inbox.accept(Action.retry_refund, request)

    @retry_refund.validator
    def _check_retry_refund(self, request: c.RetryRefund) -> None:
        self._inbox.check(Action.retry_refund, request)
        checks.retry_refund(self._ticket, request)

    @workflow.update
    async def evidence(self, request: c.Evidence) -> c.ActionResult:
        return await self._inbox.accept(Action.evidence, request)

    @evidence.validator
    def _check_evidence(self, request: c.Evidence) -> None:
        self._inbox.check(Action.evidence, request)

    @workflow.update
    async def second_approval(self, request: c.SecondApproval) -> c.ActionResult:
        return await self._inbox.accept(Action.second_approval, request)

    @second_approval.validator
    def _check_second_approval(self, request: c.SecondApproval) -> None:
        self._inbox.check(Action.second_approval, request)

    @workflow.query(name=c.STATE_QUERY)
    def state(self) -> dict[str, Any]:
        record, risk, refund = self._record, self._automation.risk, self._ledger.refund
        return {
            "status": record.status,
            "version": record.version,
            # Below `version` while the step that reached it is still being written.
            "recorded_version": record.recorded_version,
            "seq": record.seq,
            "last_event": record.last_event,
            "next_actor": record.next_actor,
            "deadline_at": record.deadline_at,
            "on_timeout": record.on_timeout,
            "risk": risk.model_dump() if risk else None,
            "refund": refund.model_dump() if refund else None,
        }
