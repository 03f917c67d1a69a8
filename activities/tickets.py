"""Writes of the ticket's read model: its current state and its timeline."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities import contracts as c
from domain.tickets import TERMINAL_STATUSES
from persistence.models import Ticket, TimelineEntry


class TicketActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @activity.defn(name=c.RECORD_TRANSITION)
    async def record_transition(self, transition: c.Transition) -> None:
        """Idempotent: the (ticket_no, seq) key lets a retried write land once."""
        async with self._sessions.begin() as session:
            inserted = await session.execute(
                insert(TimelineEntry)
                .values(
                    ticket_no=transition.ticket_no,
                    seq=transition.seq,
                    at=transition.at,
                    actor_role=transition.actor_role,
                    actor_id=transition.actor_id,
                    event=transition.event,
                    from_status=transition.from_status,
                    to_status=transition.to_status,
                    reason=transition.reason,
                    data=transition.data,
                    deadline_at=transition.deadline_at,
                )
                .on_conflict_do_nothing(index_elements=["ticket_no", "seq"])
                .returning(TimelineEntry.entry_id)
            )
            if inserted.scalar_one_or_none() is None:
                return
            values: dict[str, object] = {
                "status": transition.to_status,
                "version": transition.version,
                "next_actor": transition.next_actor,
                "deadline_at": transition.deadline_at,
                "on_timeout": transition.on_timeout,
            }
            if transition.granted_amount is not None:
                values["granted_amount"] = transition.granted_amount
            if transition.to_status in TERMINAL_STATUSES:
                values["closed_at"] = transition.at
            await session.execute(
                update(Ticket)
                .where(Ticket.ticket_no == transition.ticket_no)
                .where(Ticket.version < transition.version)
                .values(**values)
            )
