"""Exchange: the merchant reships, the buyer confirms receipt."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import contracts as c
    from domain.actions import Action
    from domain.durations import describe
    from domain.tickets import Actor, TicketStatus

from workflows.return_steps import ReturnSteps


class ExchangeSteps(ReturnSteps):
    async def reship_step(self) -> None:
        taken = await self.await_actor(self._deadline_at)
        if taken is None:
            await self.to_support(
                "reship_timeout",
                "escalated to support: the merchant did not ship the replacement within "
                + describe(self._policy.reship),
            )
            return
        action, request = taken
        if action is Action.escalate:
            await self.escalated_by(request)
            return
        parcel = c.ShipmentRecord(
            direction="replacement",
            carrier=request.carrier,
            tracking_no=request.tracking_no,
            shipped_at=workflow.now(),
        )
        await self.transition(
            "replacement_shipped",
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
        taken = await self.await_actor(self._deadline_at)
        if taken is None:
            await self.transition(
                "receipt_timeout",
                TicketStatus.completed,
                "completed automatically: the buyer did not confirm receipt within "
                f"{describe(self._policy.confirm_receipt)} of reshipment",
                next_actor=None,
            )
            return
        action, request = taken
        if action is Action.escalate:
            await self.escalated_by(request)
            return
        await self.transition(
            "receipt_confirmed",
            TicketStatus.completed,
            "the buyer confirmed receipt of the replacement",
            actor=Actor.buyer,
            actor_id=request.actor_id,
            next_actor=None,
        )
