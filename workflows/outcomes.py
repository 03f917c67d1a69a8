"""Outcomes every context reaches: to support, rejected, withdrawn by the buyer.

Each is one transition of the record; they change nothing else.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import contracts as c
    from contracts import search_attributes as sa
    from domain.events import TicketEvent
    from domain.tickets import Actor, TicketStatus

from workflows.ticket_record import TicketRecord

CLOSE_AFTER_REJECTION = "close the ticket"


async def to_support(
    record: TicketRecord,
    event: TicketEvent,
    reason: str,
    *,
    actor: Actor = Actor.system,
    actor_id: str | None = None,
    **extra: Any,
) -> None:
    workflow.upsert_search_attributes([sa.ESCALATED.value_set(True)])
    await record.transition(
        event,
        TicketStatus.under_arbitration,
        reason,
        actor=actor,
        actor_id=actor_id,
        next_actor=Actor.support,
        escalated=True,
        **extra,
    )


async def escalated_by(record: TicketRecord, request: c.Escalate) -> None:
    await to_support(
        record,
        TicketEvent.escalated_by(request.actor),
        f"the {request.actor} escalated to support: {request.reason}",
        actor=request.actor,
        actor_id=request.actor_id,
    )


async def reject(
    record: TicketRecord,
    event: TicketEvent,
    reason: str,
    actor: Actor,
    actor_id: str | None,
    wait: timedelta,
) -> None:
    """The buyer may escalate or apply again (within `wait`) before the ticket closes."""
    await record.transition(
        event,
        TicketStatus.rejected,
        reason,
        actor=actor,
        actor_id=actor_id,
        next_actor=Actor.buyer,
        deadline_at=workflow.now() + wait,
        on_timeout=CLOSE_AFTER_REJECTION,
    )


async def withdraw(record: TicketRecord, request: c.ActorAction) -> None:
    await record.transition(
        TicketEvent.cancelled_by_buyer,
        TicketStatus.cancelled,
        "the buyer withdrew the ticket" + (f": {request.note}" if request.note else ""),
        actor=request.actor,
        actor_id=request.actor_id,
        next_actor=None,
    )
