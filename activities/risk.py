"""Buyer risk, assessed when a decision is due and written on the ticket (SPEC §5)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import raiseload
from temporalio import activity
from temporalio.exceptions import ApplicationError

import contracts as c
from domain.reasons import DISPUTED_REASONS
from domain.risk import score
from persistence.models import Ticket
from persistence.risk import buyer_history, evidence_summary


class RiskActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @activity.defn(name=c.ASSESS_RISK)
    async def assess_risk(self, request: c.RiskRequest) -> c.RiskAssessment:
        """Idempotent: every run recomputes from the database and overwrites the last result."""
        async with self._sessions.begin() as session:
            ticket = await session.get(
                Ticket, request.ticket_no, with_for_update=True, options=[raiseload(Ticket.lines)]
            )
            if ticket is None:
                # The API commits the ticket just after starting its workflow: retry until it has.
                raise ApplicationError(f"ticket {request.ticket_no} is not stored yet")
            history = await buyer_history(session, ticket, datetime.now(UTC))
            result = score(history)
            summary: dict[str, Any] | None = None
            if ticket.reason_code in DISPUTED_REASONS:
                summary = await evidence_summary(session, ticket, history)
                ticket.evidence_summary = summary
            ticket.risk_level = result.level.value
            ticket.risk_reasons = list(result.reasons)
        return c.RiskAssessment(
            level=result.level.value,
            reasons=result.reasons,
            watchlisted=history.watchlisted,
            evidence_summary=summary,
            refunded_tickets=history.refunded_tickets,
        )
