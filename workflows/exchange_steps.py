"""Exchange: the goods are back and accepted; the merchant reships, the buyer confirms receipt.

Changes the record (through transitions) only.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import contracts as c
    from domain.actions import Action
    from domain.durations import describe
    from domain.events import TicketEvent
    from domain.tickets import Actor, TicketStatus

from workflows import outcomes
from workflows.actor_inbox import ActorInbox
from workflows.ticket_record import TicketRecord

E = TicketEvent


class ExchangeSteps:
    def __init__(self, ticket: c.TicketInput, record: TicketRecord, inbox: ActorInbox) -> None:
        self._policy = ticket.policy
        self._record = record
        self._inbox = inbox

    async def await_reship(
        self, event: TicketEvent, reason: str, actor: Actor, actor_id: str | None, **extra: Any
    ) -> None:
        await self._record.transition(
            event,
            TicketStatus.awaiting_reship,
            f"{reason}; the merchant ships the replacement",
            actor=actor,
            actor_id=actor_id,
            next_actor=Actor.merchant,
            deadline_at=workflow.now() + self._policy.reship,
            on_timeout="escalate to support",
            **extra,
        )

    async def reship_step(self) -> None:
        taken = await self._inbox.take(self._record.deadline_at)
        if taken is None:
            await outcomes.to_support(
                self._record,
                E.reship_timeout,
                "escalated to support: the merchant did not ship the replacement within "
                + describe(self._policy.reship),
            )
            return
        action, request = taken
        if action is Action.escalate:
            await outcomes.escalated_by(self._record, request)
            return
        parcel = c.ShipmentRecord(
            direction="replacement",
            carrier=request.carrier,
            tracking_no=request.tracking_no,
            shipped_at=workflow.now(),
        )
        await self._record.transition(
            E.replacement_shipped,
            TicketStatus.replacement_in_transit,
            f"the merchant shipped the replacement with {request.carrier} {request.tracking_no}",
            actor=Actor.merchant,
            actor_id=request.actor_id,
            next_actor=Actor.buyer,
            deadline_at=workflow.now() + self._policy.confirm_receipt,
            on_timeout="complete automatically",
            shipment=parcel,
        )

    async def receipt_step(self) -> None:
        taken = await self._inbox.take(self._record.deadline_at)
        if taken is None:
            await self._record.transition(
                E.receipt_timeout,
                TicketStatus.completed,
                "completed automatically: the buyer did not confirm receipt within "
                f"{describe(self._policy.confirm_receipt)} of reshipment",
                next_actor=None,
            )
            return
        action, request = taken
        if action is Action.escalate:
            await outcomes.escalated_by(self._record, request)
            return
        await self._record.transition(
            E.receipt_confirmed,
            TicketStatus.completed,
            "the buyer confirmed receipt of the replacement",
            actor=Actor.buyer,
            actor_id=request.actor_id,
            next_actor=None,
        )
