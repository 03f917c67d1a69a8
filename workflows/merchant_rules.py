"""The merchant's rules on one ticket: decided once, when the ticket opens, from its stored facts
and the buyer's risk; the review and approval steps apply the outcome.

Only this part holds the verdict. The rules and the facts come with the ticket's input, so a
replay decides the same, and a rule change after the opening never reaches this ticket.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import contracts as c
    from domain.events import TicketEvent
    from domain.rules import Outcome, RefundRelease, Verdict, decide, rule_fee
    from domain.ticket_facts import risk_facts
    from domain.tickets import TicketType

from workflows.ticket_record import TicketRecord


class MerchantRules:
    def __init__(self, ticket: c.TicketInput, record: TicketRecord) -> None:
        self._ticket = ticket
        self._record = record
        self.verdict: Verdict | None = None
        # Evidence photos the ticket holds: those of the application, then those the buyer adds.
        self.evidence = ticket.facts.evidence_count if ticket.facts else 0

    def details(self) -> list[tuple[str, str]]:
        if self.verdict is None:
            return []
        return [("Merchant rules", self.verdict.words())]

    @property
    def outcome(self) -> Outcome | None:
        decision = self.verdict.decision if self.verdict else None
        return decision.outcome if decision else None

    @property
    def rule(self) -> str:
        decision = self.verdict.decision if self.verdict else None
        return f"rule {decision.rule_id} ({decision.rules_version})" if decision else ""

    async def decide(self, risk: c.RiskAssessment) -> Outcome | None:
        """Decide by the ticket's rules, and record which rule fired, on which facts."""
        rules, facts = self._ticket.policy.rules, self._ticket.facts
        if rules is None or facts is None:
            return None
        facts = facts.model_copy(update=risk_facts(risk.model_dump()))
        self.verdict = verdict = decide(rules, facts)
        await self._record.note(
            TicketEvent.rule_decided,
            verdict.words(),
            data={"rules": verdict.model_dump(mode="json"), "facts": facts.model_dump(mode="json")},
        )
        return self.outcome

    def evidence_missing(self) -> int:
        """Photos the rule still asks for before the merchant's review."""
        outcome = self.outcome
        if outcome is None or outcome.require_evidence is None:
            return 0
        return max(0, outcome.require_evidence - self.evidence)

    def releases(self, moment: RefundRelease) -> bool:
        """Whether the rule pays a return's refund at `moment` rather than after inspection."""
        outcome = self.outcome
        return (
            outcome is not None
            and outcome.refund_release is moment
            and self._ticket.type is TicketType.return_refund
        )

    def service_fee(self) -> int:
        """The rule's fee on an automatic approval; none for merchant-fault reasons (SPEC §4)."""
        outcome, facts = self.outcome, self._ticket.facts
        if outcome is None or facts is None:
            return 0
        return rule_fee(outcome, facts)
