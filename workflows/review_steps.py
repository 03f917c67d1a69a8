"""The merchant's review: reminders, approval or rejection, and what a silent merchant means."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import contracts as c
    from domain.actions import Action
    from domain.durations import describe
    from domain.reasons import DISPUTED_REASONS
    from domain.tickets import Actor, TicketStatus, TicketType

from workflows.decisions import Decisions

CANCEL_ON_BUYER_TIMEOUT = "cancel the ticket (buyer timeout)"


class ReviewSteps(Decisions):
    async def open_for_review(self) -> None:
        risk = await self.assess_risk()
        reasons = [f"waiting for the merchant's review; buyer risk {risk.level}"]
        reasons += risk.reasons
        if self._ticket.reason_code in DISPUTED_REASONS:
            reasons.append("disputed reason: an evidence summary is attached for manual review")
        blockers = self.automation_blockers(risk, review=True)
        on_timeout = (
            "escalate to support instead of auto-approval: " + "; ".join(blockers)
            if blockers
            else "approve automatically (seller timeout)"
        )
        await self.transition(
            "submitted_for_review",
            TicketStatus.awaiting_merchant_review,
            "; ".join(reasons),
            data={"risk": risk.model_dump(exclude={"evidence_summary"})},
            next_actor=Actor.merchant,
            deadline_at=workflow.now() + self._policy.merchant_review,
            on_timeout=on_timeout,
        )

    async def review_step(self) -> None:
        deadline = self._deadline_at
        assert deadline is not None
        taken = None
        for before in sorted(self._policy.review_reminders, reverse=True):
            remind_at = deadline - before
            if remind_at <= workflow.now():
                continue
            taken = await self.await_actor(remind_at)
            if taken is not None:
                break
            await self.note(
                "merchant_reminded",
                f"reminder to merchant {self._ticket.merchant_id}: {describe(before)} left "
                "to review the ticket",
                data={"left_seconds": int(before.total_seconds())},
            )
        if taken is None:
            taken = await self.await_actor(deadline)
        if taken is None:
            await self._review_timed_out()
            return
        action, request = taken
        match action:
            case Action.approve:
                reason = "the merchant approved" + (f": {request.note}" if request.note else "")
                await self.approved(request, "approved_by_merchant", reason)
            case Action.reject:
                await self.reject_ticket(
                    "rejected_by_merchant",
                    f"the merchant rejected the ticket ({request.reason_code})"
                    + (f": {request.note}" if request.note else ""),
                    Actor.merchant,
                    request.actor_id,
                )
            case Action.escalate:
                await self.escalated_by(request)
            case Action.cancel:
                await self.withdraw(request)

    async def _review_timed_out(self) -> None:
        risk = await self.assess_risk()
        blockers = self.automation_blockers(risk, review=True)
        waited = describe(self._policy.merchant_review)
        if blockers:
            await self.to_support(
                "escalated_instead_of_auto_approval",
                "escalated to support instead of auto-approval: " + "; ".join(blockers),
                data={"risk": risk.model_dump(exclude={"evidence_summary"})},
            )
            return
        await self.approved(
            c.Approve(actor=Actor.system),
            "approved_automatically",
            f"approved automatically: the merchant did not answer within {waited}; "
            f"buyer risk {risk.level}",
        )

    async def approved(self, approve: c.Approve, event: str, reason: str) -> None:
        by = Actor.system if approve.actor is Actor.system else Actor.merchant
        if self._ticket.type is TicketType.refund_only:
            await self.pay(
                event, reason, actor=by, actor_id=approve.actor_id, service_fee=approve.service_fee
            )
            return
        self._service_fee = approve.service_fee
        if approve.service_fee:
            reason += f"; service fee {self._money(approve.service_fee)}"
        await self.transition(
            event,
            TicketStatus.awaiting_buyer_return,
            f"{reason}; the buyer ships the goods back",
            actor=by,
            actor_id=approve.actor_id,
            next_actor=Actor.buyer,
            deadline_at=workflow.now() + self._policy.buyer_return,
            on_timeout=CANCEL_ON_BUYER_TIMEOUT,
            warehouse_id=approve.warehouse_id,
            service_fee=approve.service_fee,
        )
