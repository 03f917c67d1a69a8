"""Opening a ticket and the merchant's review: approval by rule, reminders, approval or
rejection, and what a silent merchant means.

Changes the record (through transitions) and the fee agreed in the refund ledger.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import contracts as c
    from domain.actions import Action
    from domain.durations import describe
    from domain.events import TicketEvent
    from domain.lateness import lateness, merchant_reminder
    from domain.money import format_minor
    from domain.reasons import DISPUTED_REASONS
    from domain.rules import Outcome, RefundRelease
    from domain.tickets import Actor, TicketStatus, TicketType

from workflows import outcomes
from workflows.actor_inbox import ActorInbox
from workflows.automation import Automation
from workflows.merchant_rules import MerchantRules
from workflows.refund_ledger import RefundLedger
from workflows.refund_steps import RefundSteps
from workflows.ticket_record import TicketRecord

CANCEL_ON_BUYER_TIMEOUT = "cancel the ticket (buyer timeout)"
CLOSE_WITHOUT_EVIDENCE = "close the ticket (no evidence)"
# Tickets opened before the risk check existed approve a refund before shipment unchecked.
RISK_CHECK_BEFORE_RULE_APPROVAL = "risk-check-before-rule-approval"
# A reminder whose timer fired after the review deadline (the engine was down) used to be sent
# anyway; now it is skipped, and the deadline's outcome says how late it was applied.
NO_REMINDER_PAST_THE_DEADLINE = "no-reminder-past-the-deadline"
E = TicketEvent


class ReviewSteps:
    def __init__(
        self,
        ticket: c.TicketInput,
        record: TicketRecord,
        inbox: ActorInbox,
        automation: Automation,
        rules: MerchantRules,
        ledger: RefundLedger,
        refunds: RefundSteps,
    ) -> None:
        self._ticket = ticket
        self._policy = ticket.policy
        self._record = record
        self._inbox = inbox
        self._automation = automation
        self._rules = rules
        self._ledger = ledger
        self._refunds = refunds

    async def open_before_shipment(self) -> None:
        """Nothing has shipped: the refund is approved by rule, unless the buyer's risk forbids."""
        if workflow.patched(RISK_CHECK_BEFORE_RULE_APPROVAL):
            blockers = await self._automation.blockers(review=False)
            if blockers:
                await outcomes.to_support(
                    self._record,
                    E.escalated_instead_of_auto_approval,
                    "escalated to support instead of approval by rule: " + "; ".join(blockers),
                )
                return
        await self._refunds.pay(
            E.approved_by_rule,
            "approved automatically: a refund before shipment needs no merchant review",
            close_on_refusal=True,
        )

    async def open_for_review(self) -> None:
        risk = await self._automation.assess_risk()
        outcome = await self._rules.decide(risk)
        if outcome is not None and outcome.store_credit_bonus_percent:
            self._ledger.bonus_percent = outcome.store_credit_bonus_percent
        missing = self._rules.evidence_missing()
        if missing:
            await self._record.transition(
                E.evidence_requested,
                TicketStatus.awaiting_buyer_evidence,
                f"{self._rules.rule} asks for evidence photos before the merchant's review: "
                f"{missing} more needed",
                next_actor=Actor.buyer,
                deadline_at=workflow.now() + self._policy.buyer_evidence,
                on_timeout=CLOSE_WITHOUT_EVIDENCE,
            )
            return
        await self._submit(risk, outcome)

    async def evidence_step(self) -> None:
        """The buyer adds the photos a rule asks for; the review opens once there are enough."""
        record = self._record
        deadline = record.deadline_at
        taken = await self._inbox.take(deadline)
        if taken is None:
            await record.transition(
                E.evidence_timeout,
                TicketStatus.closed,
                "closed automatically: the buyer did not add the evidence photos asked for "
                f"within {describe(self._policy.buyer_evidence)}",
                next_actor=None,
            )
            return
        action, request = taken
        if action is Action.cancel:
            await outcomes.withdraw(record, request)
            return
        self._rules.evidence += len(request.photos)
        missing = self._rules.evidence_missing()
        await record.transition(
            E.evidence_added,
            TicketStatus.awaiting_buyer_evidence,
            f"the buyer added {len(request.photos)} evidence photos"
            + (f"; {missing} more needed" if missing else "; the merchant's review opens"),
            actor=Actor.buyer,
            actor_id=request.actor_id,
            next_actor=Actor.buyer if missing else Actor.system,
            deadline_at=deadline if missing else None,
            on_timeout=CLOSE_WITHOUT_EVIDENCE if missing else None,
            evidence=list(request.photos),
        )
        if missing:
            return
        risk = self._automation.risk or await self._automation.assess_risk()
        await self._submit(risk, self._rules.outcome)

    async def _submit(self, risk: c.RiskAssessment, outcome: Outcome | None) -> None:
        """Approve by the merchant's rule, or open the merchant's review."""
        reasons = [f"waiting for the merchant's review; buyer risk {risk.level}", *risk.reasons]
        if self._ticket.reason_code in DISPUTED_REASONS:
            reasons.append("disputed reason: an evidence summary is attached for manual review")
        blockers = self._blockers(risk)
        if outcome is not None and outcome.approve:
            # The buyer's risk, a disputed reason and the second-approval threshold win over
            # every rule (SPEC §5).
            if not blockers:
                await self.approved(
                    c.Approve(actor=Actor.system, service_fee=self._rule_fee()),
                    E.approved_by_merchant_rule,
                    f"approved automatically by the merchant's {self._rules.rule}",
                )
                return
            reasons.append(
                f"{self._rules.rule} approves automatically, but not this ticket: "
                + "; ".join(blockers)
            )
        on_timeout = (
            "escalate to support instead of auto-approval: " + "; ".join(blockers)
            if blockers
            else "approve automatically (seller timeout)"
        )
        await self._record.transition(
            E.submitted_for_review,
            TicketStatus.awaiting_merchant_review,
            "; ".join(reasons),
            data={"risk": risk.model_dump(exclude={"evidence_summary"})},
            next_actor=Actor.merchant,
            deadline_at=workflow.now() + self._policy.merchant_review,
            on_timeout=on_timeout,
        )

    async def review_step(self) -> None:
        deadline = self._record.deadline_at
        assert deadline is not None
        taken = None
        for before in sorted(self._policy.review_reminders, reverse=True):
            remind_at = deadline - before
            if remind_at <= workflow.now():
                continue
            # A reminder changes nothing: actions stay welcome while it is recorded.
            taken = await self._inbox.take(remind_at, keep_open=True)
            if taken is not None:
                break
            # Its timer fires late when the engine was down at its moment: it says the time
            # really left, and once the deadline itself has passed it is not sent at all.
            now = workflow.now()
            if now >= deadline and workflow.patched(NO_REMINDER_PAST_THE_DEADLINE):
                break
            reason, data = merchant_reminder(
                self._ticket.merchant_id, before, deadline - now, lateness(remind_at, now)
            )
            await self._record.note(E.merchant_reminded, reason, data=data)
        if taken is None:
            taken = await self._inbox.take(deadline)
        if taken is None:
            await self._review_timed_out()
            return
        action, request = taken
        match action:
            case Action.approve:
                reason = "the merchant approved" + (f": {request.note}" if request.note else "")
                await self.approved(request, E.approved_by_merchant, reason)
            case Action.reject:
                await outcomes.reject(
                    self._record,
                    E.rejected_by_merchant,
                    f"the merchant rejected the ticket ({request.reason_code})"
                    + (f": {request.note}" if request.note else ""),
                    Actor.merchant,
                    request.actor_id,
                    self._policy.buyer_after_rejection,
                )
            case Action.escalate:
                await outcomes.escalated_by(self._record, request)
            case Action.cancel:
                await outcomes.withdraw(self._record, request)

    def _blockers(self, risk: c.RiskAssessment) -> list[str]:
        blockers = self._automation.blocked_by(risk, review=True)
        outcome = self._rules.outcome
        if outcome is not None and outcome.manual_review:
            blockers.append(f"{self._rules.rule} sends the ticket to manual review")
        return blockers

    def _rule_fee(self) -> int:
        return self._rules.service_fee()

    async def _review_timed_out(self) -> None:
        risk = await self._automation.assess_risk()
        blockers = self._blockers(risk)
        if blockers:
            await outcomes.to_support(
                self._record,
                E.escalated_instead_of_auto_approval,
                "escalated to support instead of auto-approval: " + "; ".join(blockers),
                data={"risk": risk.model_dump(exclude={"evidence_summary"})},
            )
            return
        await self.approved(
            c.Approve(actor=Actor.system, service_fee=self._rule_fee()),
            E.approved_automatically,
            "approved automatically: the merchant did not answer within "
            f"{describe(self._policy.merchant_review)}; buyer risk {risk.level}",
        )

    async def approved(self, approve: c.Approve, event: TicketEvent, reason: str) -> None:
        by = Actor.system if approve.actor is Actor.system else Actor.merchant
        fee = approve.service_fee
        outcome = self._rules.outcome
        keep_item = outcome is not None and outcome.keep_item
        at_once = self._rules.releases(RefundRelease.on_approval)
        if self._ticket.type is TicketType.refund_only or (
            (keep_item or at_once) and self._ticket.type is TicketType.return_refund
        ):
            if keep_item and self._ticket.type is not TicketType.refund_only:
                reason += f"; the buyer keeps the item ({self._rules.rule}): no return"
            elif at_once:
                reason += (
                    f"; refund released on approval ({self._rules.rule}): the buyer sends the "
                    "goods back, and the ticket does not wait for them"
                )
            await self._refunds.pay(
                event, reason, actor=by, actor_id=approve.actor_id, service_fee=fee
            )
            return
        warehouse_id = approve.warehouse_id
        if warehouse_id is None and outcome is not None and outcome.warehouse_id is not None:
            warehouse_id = outcome.warehouse_id
            reason += f"; returned to warehouse {warehouse_id} ({self._rules.rule})"
        self._ledger.agree_fee(fee)
        if fee:
            reason += f"; service fee {format_minor(fee, self._ticket.currency)}"
        await self._record.transition(
            event,
            TicketStatus.awaiting_buyer_return,
            f"{reason}; the buyer ships the goods back",
            actor=by,
            actor_id=approve.actor_id,
            next_actor=Actor.buyer,
            deadline_at=workflow.now() + self._policy.buyer_return,
            on_timeout=CANCEL_ON_BUYER_TIMEOUT,
            warehouse_id=warehouse_id,
            service_fee=fee,
        )
