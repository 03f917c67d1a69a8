"""What the engine may decide on its own: the buyer's risk and what blocks an automatic decision.

Only this part writes the risk; steps ask it before they approve anything by themselves.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import contracts as c
    from contracts import search_attributes as sa
    from domain.money import format_minor
    from domain.reasons import DISPUTED_REASONS

from workflows.timeouts import DB_RETRY, DB_WRITE


class Automation:
    def __init__(self, ticket: c.TicketInput) -> None:
        self._ticket = ticket
        self.risk: c.RiskAssessment | None = None

    def details(self) -> list[tuple[str, str]]:
        if self.risk is None:
            return []
        reasons = "; ".join(self.risk.reasons) or "no signals"
        return [("Buyer risk", f"{self.risk.level}: {reasons}")]

    async def assess_risk(self) -> c.RiskAssessment:
        self.risk = await workflow.execute_activity(
            c.ASSESS_RISK,
            c.RiskRequest(ticket_no=self._ticket.ticket_no),
            result_type=c.RiskAssessment,
            start_to_close_timeout=DB_WRITE,
            retry_policy=DB_RETRY,
            summary=f"Assess the risk of buyer {self._ticket.buyer_id}",
        )
        workflow.upsert_search_attributes([sa.RISK_LEVEL.value_set(self.risk.level)])
        return self.risk

    async def blockers(self, *, review: bool) -> list[str]:
        """Why nothing may be approved automatically for this ticket now (SPEC §3, §5),
        from a fresh look at the buyer's risk."""
        return self.blocked_by(await self.assess_risk(), review=review)

    def blocked_by(self, risk: c.RiskAssessment, *, review: bool) -> list[str]:
        ticket = self._ticket
        blockers = []
        if risk.watchlisted:
            blockers.append("buyer on the watchlist")
        if risk.level == "high":
            blockers.append("buyer risk high: " + "; ".join(risk.reasons))
        if review and ticket.reason_code in DISPUTED_REASONS:
            blockers.append(f"disputed reason {ticket.reason_code} needs manual review")
        threshold = ticket.policy.second_approval_threshold
        if review and ticket.quoted_amount > threshold:
            blockers.append(
                f"{format_minor(ticket.quoted_amount, ticket.currency)} is above the "
                f"second-approval threshold of {format_minor(threshold, ticket.currency)}"
            )
        return blockers
