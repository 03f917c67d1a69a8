"""Buyer risk, assessed when a decision is due and written on the ticket (SPEC §5)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

import contracts as c
from domain.reasons import DISPUTED_REASONS
from domain.risk import score
from persistence.models import Ticket
from persistence.risk import buyer_history, evidence_summary
from persistence.tables import TICKETS, change, changed


@cache
def _locked_ticket() -> Select[str, str, str, datetime, str]:
    """What the assessment reads of the ticket, locked until its result is written."""
    tickets = TICKETS.c
    return (
        select(
            tickets.ticket_no,
            tickets.buyer_id,
            tickets.order_id,
            tickets.created_at,
            tickets.reason_code,
        )
        .where(tickets.ticket_no == bindparam("ticket_no"))
        .with_for_update()
    )


class RiskActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @activity.defn(name=c.ASSESS_RISK)
    async def assess_risk(self, request: c.RiskRequest) -> c.RiskAssessment:
        """Idempotent: every run recomputes from the database and overwrites the last result."""
        async with self._sessions.begin() as session:
            ticket = (
                await session.execute(_locked_ticket(), {"ticket_no": request.ticket_no})
            ).one_or_none()
            if ticket is None:
                # The API commits the ticket just after starting its workflow: retry until it has.
                raise ApplicationError(f"ticket {request.ticket_no} is not stored yet")
            history = await buyer_history(session, ticket, datetime.now(UTC))
            result = score(history)
            summary: dict[str, Any] | None = None
            assessed: dict[str, Any] = {
                "risk_level": result.level.value,
                "risk_reasons": list(result.reasons),
            }
            if ticket.reason_code in DISPUTED_REASONS:
                disputed = await session.get(Ticket, request.ticket_no)
                assert disputed is not None  # locked above
                summary = await evidence_summary(session, disputed, history)
                assessed["evidence_summary"] = summary
            await session.execute(
                change(TICKETS, "ticket_no", tuple(assessed)), changed(request.ticket_no, assessed)
            )
        return c.RiskAssessment(
            level=result.level.value,
            reasons=result.reasons,
            watchlisted=history.watchlisted,
            evidence_summary=summary,
            refunded_tickets=history.refunded_tickets,
        )
