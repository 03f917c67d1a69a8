"""The goods come back: the buyer ships, the courier delivers, the warehouse inspects."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    import contracts as c
    from domain.actions import Action
    from domain.durations import describe
    from domain.tickets import Actor, TicketStatus, TicketType

from workflows.actor_inbox import Taken
from workflows.review_steps import ReviewSteps

ESCALATE = "escalate to support"
TRACKING_GRACE = timedelta(hours=1)
TRACKING_HEARTBEAT = timedelta(minutes=10)


class ReturnSteps(ReviewSteps):
    def __init__(self, ticket: c.TicketInput) -> None:
        super().__init__(ticket)
        self._return_parcel: c.ShipmentRecord | None = None
        self._seen_tracking: set[str] = set()
        # A courier's final word on the return parcel, waiting to be acted on.
        self._return_news: c.TrackingSignal | None = None

    def apply_tracking_event(self, event: c.TrackingSignal) -> None:
        # Couriers redeliver webhooks; an event seen once changes nothing the second time.
        if event.event_id in self._seen_tracking:
            return
        self._seen_tracking.add(event.event_id)
        parcel = self._return_parcel
        if parcel is None or event.tracking_no != parcel.tracking_no:
            return
        if event.status in ("delivered", "lost") and self._status is TicketStatus.return_in_transit:
            self._return_news = event

    async def buyer_return_step(self) -> None:
        taken = await self.await_actor(self._deadline_at)
        if taken is None:
            await self.transition(
                "buyer_return_timeout",
                TicketStatus.cancelled,
                "cancelled automatically: the buyer did not ship the goods back within "
                + describe(self._policy.buyer_return),
                next_actor=None,
            )
            return
        action, request = taken
        if action is Action.cancel:
            await self.withdraw(request)
            return
        self._return_parcel = c.ShipmentRecord(
            direction="return",
            carrier=request.carrier,
            tracking_no=request.tracking_no,
            shipped_at=workflow.now(),
        )
        await self.transition(
            "return_shipped",
            TicketStatus.return_in_transit,
            f"the buyer shipped the goods back with {request.carrier} {request.tracking_no}",
            actor=Actor.buyer,
            actor_id=request.actor_id,
            next_actor=Actor.warehouse,
            deadline_at=workflow.now() + self._policy.return_delivery,
            on_timeout=f"{ESCALATE} (possible loss)",
            shipment=self._return_parcel,
        )

    async def return_transit_step(self) -> None:
        parcel = self._return_parcel
        assert parcel is not None and self._deadline_at is not None
        taken = await self._follow_parcel(parcel, self._deadline_at)
        news, self._return_news = self._return_news, None
        if taken is not None:
            action, request = taken
            if action is Action.inspection:
                await self.inspected(request)
            else:
                await self.escalated_by(request)
        elif news is not None and news.status == "delivered":
            self._return_parcel = parcel.model_copy(
                update={"status": "delivered", "delivered_at": news.at}
            )
            await self.transition(
                "return_delivered",
                TicketStatus.awaiting_inspection,
                f"the return parcel {parcel.tracking_no} reached the warehouse: "
                + (news.description or "reported delivered by the courier"),
                data={"event_id": news.event_id, "courier_at": news.at.isoformat()},
                next_actor=Actor.warehouse,
                deadline_at=workflow.now() + self._policy.warehouse_checkin,
                on_timeout="accept the goods and refund automatically",
                shipment=self._return_parcel,
            )
        elif news is not None:
            self._return_parcel = parcel.model_copy(update={"status": "lost"})
            await self.pay(
                "return_lost",
                f"the courier reported the return parcel {parcel.tracking_no} lost: refunded "
                "automatically; the merchant claims from the courier",
                service_fee=self._service_fee,
                shipment=self._return_parcel,
            )
        else:
            await self.to_support(
                "return_delivery_overdue",
                "escalated to support: the return parcel was not delivered within "
                f"{describe(self._policy.return_delivery)} of shipping (possible loss)",
            )

    async def _follow_parcel(self, parcel: c.ShipmentRecord, until: datetime) -> Taken | None:
        """Wait for an actor or the courier's final word; poll the courier in case no webhook
        comes."""
        tracker = workflow.start_activity(
            c.TRACK_PARCEL,
            c.ParcelQuery(
                ticket_no=self._ticket.ticket_no,
                carrier=parcel.carrier,
                tracking_no=parcel.tracking_no,
            ),
            result_type=c.ParcelStatus,
            start_to_close_timeout=until - workflow.now() + TRACKING_GRACE,
            heartbeat_timeout=TRACKING_HEARTBEAT,
            # Courier outages are waited out inside the activity; a few attempts suffice.
            retry_policy=RetryPolicy(maximum_attempts=3),
            # Leaving the state abandons the poll instead of racing its completion with a
            # cancel request; it ends with the parcel's final status, its timeout or the ticket.
            cancellation_type=ActivityCancellationType.ABANDON,
            summary=f"Follow the return parcel {parcel.carrier} {parcel.tracking_no}",
        )
        # Once the ticket stops waiting, the poll's outcome is no longer news.
        tracker.add_done_callback(lambda done: done.cancelled() or done.exception())
        polled = False

        def courier_spoke() -> bool:
            return self._return_news is not None or (tracker.done() and not polled)

        try:
            while True:
                taken = await self.await_actor(until, also=courier_spoke)
                if tracker.done() and not polled:
                    polled = True
                    if not tracker.cancelled() and tracker.exception() is None:
                        for event in tracker.result().events:
                            self.apply_tracking_event(event)
                if taken or self._return_news or workflow.now() >= until:
                    return taken
        finally:
            if not tracker.done():
                tracker.cancel()

    async def inspection_step(self) -> None:
        taken = await self.await_actor(self._deadline_at)
        if taken is not None:
            await self.inspected(taken[1])
            return
        waited = describe(self._policy.warehouse_checkin)
        blockers = self.automation_blockers(await self.assess_risk(), review=False)
        if blockers:
            await self.to_support(
                "escalated_instead_of_auto_acceptance",
                f"escalated to support instead of accepting automatically: the warehouse did "
                f"not check the parcel in within {waited} of delivery; " + "; ".join(blockers),
            )
            return
        reason = (
            "accepted automatically: the warehouse did not check the parcel in within "
            f"{waited} of delivery"
        )
        if self._ticket.type is TicketType.exchange:
            await self.await_reship("checkin_timeout", reason, Actor.system, None)
        else:
            await self.pay("checkin_timeout", reason, service_fee=self._service_fee)

    async def inspected(self, request: c.Inspection) -> None:
        passed = all(line.rejected == 0 for line in request.lines)
        record = c.InspectionRecord(
            warehouse_id=request.actor_id,
            inspector_id=request.actor_id,
            lines=request.lines,
            notes=request.note,
            photos=request.photos,
            passed=passed,
            at=workflow.now(),
        )
        accepted = sum(line.accepted for line in request.lines)
        rejected = sum(line.rejected for line in request.lines)
        notes = f": {request.note}" if request.note else ""
        if not passed:
            await self.transition(
                "inspection_failed",
                TicketStatus.inspection_failed,
                f"inspection failed: {rejected} of {accepted + rejected} unit(s) rejected{notes}",
                data={"lines": [line.model_dump() for line in request.lines]},
                next_actor=Actor.merchant,
                deadline_at=workflow.now() + self._policy.resolve_inspection,
                on_timeout=ESCALATE,
                actor=Actor.warehouse,
                actor_id=request.actor_id,
                inspection=record,
            )
        elif self._ticket.type is TicketType.exchange:
            await self.await_reship(
                "inspection_passed",
                f"inspection passed: {accepted} unit(s) accepted{notes}",
                Actor.warehouse,
                request.actor_id,
                inspection=record,
            )
        else:
            await self.pay(
                "inspection_passed",
                f"inspection passed: {accepted} unit(s) accepted{notes}",
                service_fee=self._service_fee,
                actor=Actor.warehouse,
                actor_id=request.actor_id,
                inspection=record,
            )

    async def failed_inspection_step(self) -> None:
        taken = await self.await_actor(self._deadline_at)
        if taken is None:
            await self.to_support(
                "resolve_inspection_timeout",
                "escalated to support: the merchant did not resolve the failed inspection within "
                + describe(self._policy.resolve_inspection),
            )
            return
        action, request = taken
        if action is Action.escalate:
            await self.escalated_by(request)
        elif request.decision == "partial_refund":
            await self.pay(
                "inspection_resolved_partial_refund",
                f"the merchant offers a partial refund of {self._money(request.amount)} "
                "after the failed inspection",
                actor=Actor.merchant,
                actor_id=request.actor_id,
                requested_amount=request.amount,
            )
        else:
            await self.reject_ticket(
                "inspection_resolved_return_to_buyer",
                "the merchant sends the goods back to the buyer without refund"
                + (f": {request.note}" if request.note else ""),
                Actor.merchant,
                request.actor_id,
            )

    async def await_reship(
        self, event: str, reason: str, actor: Actor, actor_id: str | None, **extra: Any
    ) -> None:
        """Exchange: the goods are back and accepted; the merchant ships a replacement next."""
        await self.transition(
            event,
            TicketStatus.awaiting_reship,
            f"{reason}; the merchant ships the replacement",
            actor=actor,
            actor_id=actor_id,
            next_actor=Actor.merchant,
            deadline_at=workflow.now() + self._policy.reship,
            on_timeout=ESCALATE,
            **extra,
        )
