"""Decisions every flow shares: paying, escalating, second approval, rejection, arbitration."""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    import contracts as c
    from contracts import search_attributes as sa
    from domain.actions import Action
    from domain.durations import describe
    from domain.money import format_minor
    from domain.reasons import DISPUTED_REASONS
    from domain.tickets import (
        NO_LONGER_REFUNDABLE,
        Actor,
        Destination,
        TicketStatus,
        describe_destination,
    )

from workflows.refund_steps import SETTLEMENT_OVERDUE, RefundSteps
from workflows.ticket_record import DB_WRITE

CLOSE_AFTER_REJECTION = "close the ticket"
# Refunds the provider refused as too old used to fail; now they go to the buyer's balance.
FALLBACK_TO_BALANCE = "fallback-to-balance"


class Decisions(RefundSteps):
    def __init__(self, ticket: c.TicketInput) -> None:
        super().__init__(ticket)
        self._refund_seq = 0
        self._grant: c.Grant | None = None
        self._risk: c.RiskAssessment | None = None
        self._service_fee = 0
        # The terms of the last refund granted, so support can send it again after a failure.
        self._terms: dict[str, Any] = {}

    def more_details(self) -> list[tuple[str, str]]:
        risk = self._risk
        if risk is None:
            return super().more_details()
        reasons = "; ".join(risk.reasons) or "no signals"
        return [*super().more_details(), ("Buyer risk", f"{risk.level}: {reasons}")]

    @property
    def _policy(self) -> c.TicketPolicy:
        return self._ticket.policy

    def _money(self, amount: int) -> str:
        return format_minor(amount, self._ticket.currency)

    async def assess_risk(self) -> c.RiskAssessment:
        self._risk = await workflow.execute_activity(
            c.ASSESS_RISK,
            c.RiskRequest(ticket_no=self._ticket.ticket_no),
            result_type=c.RiskAssessment,
            start_to_close_timeout=DB_WRITE,
            summary=f"Assess the risk of buyer {self._ticket.buyer_id}",
        )
        workflow.upsert_search_attributes([sa.RISK_LEVEL.value_set(self._risk.level)])
        return self._risk

    def automation_blockers(self, risk: c.RiskAssessment, *, review: bool) -> list[str]:
        """Why nothing may be approved automatically for this ticket (SPEC §3, §5)."""
        blockers = []
        if risk.watchlisted:
            blockers.append("buyer on the watchlist")
        if risk.level == "high":
            blockers.append("buyer risk high: " + "; ".join(risk.reasons))
        if review and self._ticket.reason_code in DISPUTED_REASONS:
            blockers.append(f"disputed reason {self._ticket.reason_code} needs manual review")
        threshold = self._policy.second_approval_threshold
        if review and self._ticket.quoted_amount > threshold:
            blockers.append(
                f"{self._money(self._ticket.quoted_amount)} is above the second-approval "
                f"threshold of {self._money(threshold)}"
            )
        return blockers

    async def pay(
        self,
        event: str,
        reason: str,
        *,
        actor: Actor = Actor.system,
        actor_id: str | None = None,
        service_fee: int = 0,
        requested_amount: int | None = None,
        lines: dict[str, int] | None = None,
        destination: c.RefundDestination | None = None,
        close_on_refusal: bool = False,
        **extra: Any,
    ) -> None:
        """Grant the refund, then move money at once or wait for a second approver."""
        self._refund_seq += 1
        self._terms = {
            "service_fee": service_fee,
            "requested_amount": requested_amount,
            "lines": lines,
        }
        if destination is not None:
            self._terms["destination"] = destination
        try:
            grant = await self.grant(
                self._refund_seq,
                service_fee=service_fee,
                requested_amount=requested_amount,
                lines=lines,
                destination=destination,
            )
        except ActivityError as error:
            if not isinstance(error.cause, ApplicationError):
                raise
            refused = f"the refund could not be granted: {error.cause.message}"
            if close_on_refusal:
                # The money rules refused at grant time (another ticket got there first).
                await self.transition(
                    "refund_refused", TicketStatus.closed, error.cause.message, **extra
                )
            else:
                await self.to_support("refund_refused", refused, actor=actor, **extra)
            return
        self._grant = grant
        if service_fee:
            extra["service_fee"] = service_fee
        data = {"amount": grant.amount, "breakdown": grant.breakdown}
        if grant.needs_second_approval:
            threshold = self._policy.second_approval_threshold
            await self.transition(
                event,
                TicketStatus.awaiting_second_approval,
                f"{reason}; refund of {self._money(grant.amount)} is above the second-approval "
                f"threshold of {self._money(threshold)}",
                data={**data, "threshold": threshold},
                actor=actor,
                actor_id=actor_id,
                next_actor=Actor.support,
                granted_amount=grant.amount,
                **extra,
            )
            return
        await self._start_refund(event, [reason], actor, actor_id, **extra)

    async def _start_refund(
        self, event: str, reasons: list[str], actor: Actor, actor_id: str | None, **extra: Any
    ) -> None:
        grant = self._grant
        assert grant is not None
        await self.transition(
            event,
            TicketStatus.refunding,
            "; ".join(reasons + grant.notes),
            data={"amount": grant.amount, "breakdown": grant.breakdown},
            actor=actor,
            actor_id=actor_id,
            granted_amount=grant.amount,
            deadline_at=workflow.now() + self._policy.refund_settlement,
            on_timeout=SETTLEMENT_OVERDUE,
            **extra,
        )

    async def to_support(
        self,
        event: str,
        reason: str,
        *,
        actor: Actor = Actor.system,
        actor_id: str | None = None,
        **extra: Any,
    ) -> None:
        workflow.upsert_search_attributes([sa.ESCALATED.value_set(True)])
        await self.transition(
            event,
            TicketStatus.under_arbitration,
            reason,
            actor=actor,
            actor_id=actor_id,
            next_actor=Actor.support,
            escalated=True,
            **extra,
        )

    async def reject_ticket(
        self, event: str, reason: str, actor: Actor, actor_id: str | None
    ) -> None:
        """The buyer may escalate or apply again before the ticket closes."""
        await self.transition(
            event,
            TicketStatus.rejected,
            reason,
            actor=actor,
            actor_id=actor_id,
            next_actor=Actor.buyer,
            deadline_at=workflow.now() + self._policy.buyer_after_rejection,
            on_timeout=CLOSE_AFTER_REJECTION,
        )

    async def withdraw(self, request: c.ActorAction) -> None:
        await self.transition(
            "cancelled_by_buyer",
            TicketStatus.cancelled,
            "the buyer withdrew the ticket" + (f": {request.note}" if request.note else ""),
            actor=request.actor,
            actor_id=request.actor_id,
            next_actor=None,
        )

    async def escalated_by(self, request: c.Escalate) -> None:
        await self.to_support(
            f"escalated_by_{request.actor}",
            f"the {request.actor} escalated to support: {request.reason}",
            actor=request.actor,
            actor_id=request.actor_id,
        )

    # --- states ------------------------------------------------------------------------------

    async def second_approval_step(self) -> None:
        grant = self._grant
        assert grant is not None
        _, decision = await self._next(None)
        if decision.approve:
            amount = self._money(grant.amount)
            reasons = [f"support approved the refund of {amount} as second approver"]
            await self._start_refund(
                "second_approval_granted",
                reasons + ([decision.note] if decision.note else []),
                Actor.support,
                decision.actor_id,
            )
            return
        await self.void(grant, f"second approval declined: {decision.note}")
        await self.reject_ticket(
            "second_approval_declined",
            "support declined the refund as second approver"
            + (f": {decision.note}" if decision.note else ""),
            Actor.support,
            decision.actor_id,
        )

    async def refund_not_paid(self, grant: c.Grant, refund: c.RefundState) -> None:
        """A payment that can no longer be refunded falls back to the buyer's balance."""
        if (
            refund.failure_code in NO_LONGER_REFUNDABLE
            and grant.destination == Destination.original
            and workflow.patched(FALLBACK_TO_BALANCE)
        ):
            self._refund = None
            await self.pay(
                "refund_redirected_to_balance",
                "the original payment can no longer be refunded "
                f"({refund.failure_reason}): the refund goes to the buyer's store-credit "
                "balance instead",
                **{**self._terms, "destination": c.RefundDestination(kind=Destination.balance)},
            )
            return
        await super().refund_not_paid(grant, refund)

    def resume(self, reopened: c.Reopening) -> None:
        """Carry on the record of a ticket whose earlier run ended, where it stood."""
        self._status = reopened.status
        self._version = self._recorded_version = reopened.version
        self._seq = reopened.seq
        self._next_actor = None
        self._refund_seq = reopened.refund_seq
        self._refunded_amount = reopened.refunded_amount
        self._refund = reopened.refund
        self._paid_amount = reopened.amount
        self._terms = {
            "service_fee": reopened.service_fee,
            "requested_amount": reopened.requested_amount,
            "lines": reopened.lines,
        }
        if reopened.destination is not None:
            self._terms["destination"] = reopened.destination

    async def refund_reversed(self) -> None:
        """The bank returned a refund after it succeeded: the money is owed again."""
        await self.book_reversal()
        self._refunded_amount -= self._paid_amount
        self._paid_amount = 0
        assert self._refund is not None
        await self.reversed_to_support(self._refund)

    async def refund_failed_step(self) -> None:
        _, retry = await self._next(None)
        failed = self._refund.failure_reason if self._refund else None
        self._refund = None
        terms = dict(self._terms)
        where = ""
        if retry.destination is not None:
            terms["destination"] = c.RefundDestination(
                kind=retry.destination, details=retry.destination_details
            )
            where = f" to {describe_destination(retry.destination)}"
        await self.pay(
            "refund_retried",
            f"support sent the refund again{where} after it failed ({failed})"
            + (f": {retry.note}" if retry.note else ""),
            actor=Actor.support,
            actor_id=retry.actor_id,
            **terms,
        )

    async def refunding_step(self) -> None:
        assert self._grant is not None and self._deadline_at is not None
        await self.refund(self._grant, self._deadline_at)

    async def rejected_step(self) -> None:
        taken = await self.await_actor(self._deadline_at)
        if taken is None:
            await self.transition(
                "closed_after_rejection",
                TicketStatus.closed,
                "closed automatically: the buyer neither escalated nor re-applied within "
                + describe(self._policy.buyer_after_rejection),
                next_actor=None,
            )
        elif taken[0] is Action.escalate:
            await self.escalated_by(taken[1])
        else:
            await self.withdraw(taken[1])

    async def arbitration_step(self) -> None:
        _, ruling = await self._next(None)
        note = f": {ruling.note}" if ruling.note else ""
        by = {"actor": Actor.support, "actor_id": ruling.actor_id}
        match ruling.decision:
            case "refund":
                await self.pay("arbitrated_refund", f"support decided a full refund{note}", **by)
            case "partial_refund":
                await self.pay(
                    "arbitrated_partial_refund",
                    f"support decided a partial refund of {self._money(ruling.amount)}{note}",
                    requested_amount=ruling.amount,
                    **by,
                )
            case "reject":
                await self.transition(
                    "arbitrated_reject",
                    TicketStatus.closed,
                    f"support rejected the claim{note}",
                    next_actor=None,
                    **by,
                )
            case "return_to_buyer":
                await self.transition(
                    "arbitrated_return_to_buyer",
                    TicketStatus.closed,
                    f"support decided the goods go back to the buyer, without refund{note}",
                    next_actor=None,
                    **by,
                )

    async def _next(self, until: Any) -> tuple[Action, Any]:
        taken = await self.await_actor(until)
        assert taken is not None
        return taken
