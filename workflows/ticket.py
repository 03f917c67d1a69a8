"""The after-sales ticket: one workflow per ticket, owning its state, deadlines and side effects."""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import contracts as c
    from domain.actions import WHEN, Action
    from domain.money import format_minor
    from domain.tickets import Actor, TicketStatus, TicketType

from workflows.refund_steps import SETTLEMENT_OVERDUE, RefundSteps

ILLEGAL_TRANSITION = "IllegalTransition"
VERSION_CONFLICT = "VersionConflict"


@workflow.defn
class TicketWorkflow(RefundSteps):
    @workflow.init
    def __init__(self, ticket: c.TicketInput) -> None:
        super().__init__(ticket)
        self._second_approval: c.SecondApproval | None = None

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
        self.apply_payment_event(event)

    @workflow.update
    async def second_approval(self, decision: c.SecondApproval) -> c.ActionResult:
        self._second_approval = decision
        # Answer once the resulting transition is stored, so the caller reads the new state.
        version = self._version
        await workflow.wait_condition(lambda: self._recorded_version > version)
        return c.ActionResult(status=self._status, version=self._version)

    @second_approval.validator
    def _check_second_approval(self, decision: c.SecondApproval) -> None:
        self._expect(Action.second_approval, decision.expected_version)

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

    def _expect(self, action: Action, expected_version: int | None) -> None:
        """Validators refuse before anything is written to the history."""
        if self._status not in WHEN[action] or self._second_approval is not None:
            raise ApplicationError(
                f"{action} is not possible: the ticket is {self._status}", type=ILLEGAL_TRANSITION
            )
        if expected_version is not None and expected_version != self._version:
            raise ApplicationError(
                f"the ticket is at version {self._version}, not {expected_version}",
                type=VERSION_CONFLICT,
            )

    # --- flows -----------------------------------------------------------------------------

    async def _refund_before_shipment(self) -> None:
        try:
            grant = await self.grant(1)
        except ActivityError as error:
            if not isinstance(error.cause, ApplicationError):
                raise
            # The money rules refused at grant time (another ticket got there first).
            await self.transition("refund_refused", TicketStatus.closed, error.cause.message)
            return
        amount = format_minor(grant.amount, grant.currency)
        event, actor, actor_id = "approved_by_rule", Actor.system, None
        reasons = ["approved automatically: a refund before shipment needs no merchant review"]
        if grant.needs_second_approval:
            decision = await self._await_second_approval(grant)
            if not decision.approve:
                await self._decline(grant, decision)
                return
            event, actor, actor_id = "second_approval_granted", Actor.support, decision.actor_id
            reasons = [f"support approved the refund of {amount} as second approver"]
            reasons += [decision.note] if decision.note else []
        overdue_at = workflow.now() + self._ticket.policy.refund_settlement
        await self.transition(
            event,
            TicketStatus.refunding,
            "; ".join(reasons + grant.notes),
            data={"amount": grant.amount, "breakdown": grant.breakdown},
            actor=actor,
            actor_id=actor_id,
            granted_amount=grant.amount,
            deadline_at=overdue_at,
            on_timeout=SETTLEMENT_OVERDUE,
        )
        await self.refund(grant, overdue_at)

    async def _await_second_approval(self, grant: c.Grant) -> c.SecondApproval:
        """Large refunds wait for support before money moves (SPEC §4)."""
        threshold = self._ticket.policy.second_approval_threshold
        await self.transition(
            "second_approval_requested",
            TicketStatus.awaiting_second_approval,
            f"refund of {format_minor(grant.amount, grant.currency)} is above the "
            f"second-approval threshold of {format_minor(threshold, grant.currency)}",
            data={"amount": grant.amount, "threshold": threshold},
            next_actor=Actor.support,
            granted_amount=grant.amount,
        )
        await workflow.wait_condition(lambda: self._second_approval is not None)
        assert self._second_approval is not None
        return self._second_approval

    async def _decline(self, grant: c.Grant, decision: c.SecondApproval) -> None:
        await self.void(grant, f"second approval declined: {decision.note}")
        rejected_until = workflow.now() + self._ticket.policy.buyer_after_rejection
        await self.transition(
            "second_approval_declined",
            TicketStatus.rejected,
            "support declined the refund as second approver"
            + (f": {decision.note}" if decision.note else ""),
            actor=Actor.support,
            actor_id=decision.actor_id,
            next_actor=Actor.buyer,
            deadline_at=rejected_until,
            on_timeout="close the ticket",
        )
        await workflow.sleep(rejected_until - workflow.now())
        await self.transition(
            "closed_after_rejection",
            TicketStatus.closed,
            "closed automatically: the buyer neither escalated nor re-applied in time",
            next_actor=None,
        )
