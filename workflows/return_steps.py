"""The goods come back: the buyer ships, the courier carries and delivers (or loses) them.

Changes the record (through transitions) and the return parcel.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ActivityError, FailureError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    import contracts as c
    from domain.actions import Action
    from domain.durations import describe
    from domain.events import TicketEvent
    from domain.rules import RefundRelease
    from domain.tickets import Actor, TicketStatus

from workflows import outcomes
from workflows.actor_inbox import ActorInbox, Taken
from workflows.inspection_steps import ESCALATE, InspectionSteps
from workflows.merchant_rules import MerchantRules
from workflows.refund_ledger import RefundLedger
from workflows.refund_steps import RefundSteps
from workflows.return_parcel import POLL_BY_RETRIES, SCANNED, ReturnParcel
from workflows.ticket_record import TicketRecord
from workflows.timeouts import (
    HEARTBEAT,
    LABEL_ASK,
    LABEL_PATIENCE,
    LABEL_RETRY,
    PARCEL_ASK,
    PARCEL_POLL_RETRY,
    TRACKING_GRACE,
    TRACKING_RETRY,
)

E = TicketEvent
# Tickets approved before return labels waited only for the buyer's tracking number.
RETURN_LABELS = "return-labels"


class ReturnSteps:
    def __init__(
        self,
        ticket: c.TicketInput,
        record: TicketRecord,
        inbox: ActorInbox,
        parcel: ReturnParcel,
        ledger: RefundLedger,
        refunds: RefundSteps,
        inspection: InspectionSteps,
        rules: MerchantRules,
    ) -> None:
        self._ticket = ticket
        self._policy = ticket.policy
        self._record = record
        self._inbox = inbox
        self._parcel = parcel
        self._ledger = ledger
        self._refunds = refunds
        self._inspection = inspection
        self._rules = rules

    async def buyer_return_step(self) -> None:
        until = self._record.deadline_at
        assert until is not None
        taken: Taken | None
        if self._policy.return_labels and workflow.patched(RETURN_LABELS):
            taken = await self._wait_with_label(until)
        else:
            taken = await self._inbox.take(until)
        if taken is None and self._parcel.label_scan is not None:
            label, scan = self._parcel.label, self._parcel.label_scan
            assert label is not None
            await self._record.transition(
                E.return_shipped,
                TicketStatus.return_in_transit,
                f"the courier has the return parcel {label.carrier} {label.tracking_no} of the "
                f"return label ({scan.status}): the buyer shipped it",
                data={"event_id": scan.event_id, "courier_at": scan.at.isoformat(), "label": True},
                next_actor=Actor.warehouse,
                deadline_at=workflow.now() + self._policy.return_delivery,
                on_timeout=f"{ESCALATE} (possible loss)",
                shipment=self._parcel.shipped_by_label(),
            )
            return
        if taken is None:
            await self._record.transition(
                E.buyer_return_timeout,
                TicketStatus.cancelled,
                "cancelled automatically: the buyer did not ship the goods back within "
                + describe(self._policy.buyer_return),
                next_actor=None,
            )
            return
        action, request = taken
        if action is Action.cancel:
            await outcomes.withdraw(self._record, request)
            return
        await self._record.transition(
            E.return_shipped,
            TicketStatus.return_in_transit,
            f"the buyer shipped the goods back with {request.carrier} {request.tracking_no}",
            actor=Actor.buyer,
            actor_id=request.actor_id,
            next_actor=Actor.warehouse,
            deadline_at=workflow.now() + self._policy.return_delivery,
            on_timeout=f"{ESCALATE} (possible loss)",
            shipment=self._parcel.shipped(request),
        )

    async def _wait_with_label(self, until: datetime) -> Taken | None:
        """Ask the courier for a return label, then follow its parcel until the courier has it;
        the buyer may still ship another way (`return_shipment`) or cancel meanwhile."""
        if self._parcel.label is None:
            taken = await self._ask_for_label(until)
            if taken is not None or workflow.now() >= until:
                return taken
        label = self._parcel.label
        if label is None:
            return await self._inbox.take(until)
        return await self._follow_parcel(
            label.carrier,
            label.tracking_no,
            until,
            heard=lambda: self._parcel.label_scan is not None,
        )

    async def _ask_for_label(self, until: datetime) -> Taken | None:
        """An action or the deadline may come first: the request is then stopped, and a label
        the courier issued meanwhile stays stored, unused."""
        asking = workflow.start_activity(
            c.ISSUE_RETURN_LABEL,
            c.LabelRequest(ticket_no=self._ticket.ticket_no),
            result_type=c.IssuedLabel,
            start_to_close_timeout=LABEL_ASK,
            schedule_to_close_timeout=min(LABEL_PATIENCE, until - workflow.now()),
            retry_policy=LABEL_RETRY,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            summary="Ask the courier for a return label",
        )
        # Noting the label changes nothing the buyer acts on: the inbox stays open meanwhile.
        taken = await self._inbox.take(until, also=asking.done, also_keeps_open=True)
        if not asking.done():
            self._parcel.stop_asking(asking)
            return taken
        if taken is not None:
            return taken
        try:
            label = asking.result()
        except ActivityError as failed:
            cause = failed.cause.message if isinstance(failed.cause, FailureError) else str(failed)
            await self._record.note(
                E.return_label_failed,
                f"no return label ({cause}): the buyer ships the goods back another way and "
                "sends the tracking number",
            )
            return None
        self._parcel.labelled(label)
        await self._record.note(
            E.return_label_issued,
            f"the courier issued a return label, {label.carrier} {label.tracking_no}: the buyer "
            "drops the parcel off with its QR code, and the ticket follows it from the courier",
            data={
                "carrier": label.carrier,
                "tracking_no": label.tracking_no,
                "label_id": label.label_id,
            },
        )
        return None

    async def return_transit_step(self) -> None:
        parcel = self._parcel.parcel
        assert parcel is not None and self._record.deadline_at is not None
        fast = self._rules.releases(RefundRelease.on_first_scan)
        heard = (lambda: self._parcel.first_scan is not None) if fast else None
        taken = await self._follow_parcel(
            parcel.carrier, parcel.tracking_no, self._record.deadline_at, heard=heard
        )
        news = self._parcel.take_news()
        scan = self._parcel.first_scan
        if taken is not None:
            action, request = taken
            if action is Action.inspection:
                await self._inspection.inspected(request)
            else:
                await outcomes.escalated_by(self._record, request)
        elif (
            news is not None
            and news.status == "delivered"
            and self._rules.releases(RefundRelease.on_delivery)
        ):
            await self._refunds.pay(
                E.return_delivered,
                f"the return parcel {parcel.tracking_no} reached the warehouse: refund released "
                f"on delivery ({self._rules.rule}); the warehouse checks the goods in without "
                "holding the refund",
                service_fee=self._ledger.service_fee,
                shipment=self._parcel.arrived(news),
            )
        elif news is not None and news.status == "delivered":
            await self._record.transition(
                E.return_delivered,
                TicketStatus.awaiting_inspection,
                f"the return parcel {parcel.tracking_no} reached the warehouse: "
                + (news.description or "reported delivered by the courier"),
                data={"event_id": news.event_id, "courier_at": news.at.isoformat()},
                next_actor=Actor.warehouse,
                deadline_at=workflow.now() + self._policy.warehouse_checkin,
                on_timeout="accept the goods and refund automatically",
                shipment=self._parcel.arrived(news),
            )
        elif news is None and fast and scan is not None:
            await self._refunds.pay(
                E.refund_released_on_first_scan,
                f"fast refund ({self._rules.rule}): the courier scanned the return parcel "
                f"{parcel.tracking_no} ({scan.status}); refunded without waiting for delivery",
                service_fee=self._ledger.service_fee,
            )
        elif news is not None:
            await self._refunds.pay(
                E.return_lost,
                f"the courier reported the return parcel {parcel.tracking_no} lost: refunded "
                "automatically; the merchant claims from the courier",
                service_fee=self._ledger.service_fee,
                shipment=self._parcel.lost(),
            )
        else:
            await outcomes.to_support(
                self._record,
                E.return_delivery_overdue,
                "escalated to support: the return parcel was not delivered within "
                f"{describe(self._policy.return_delivery)} of shipping (possible loss)",
            )

    async def _follow_parcel(
        self,
        carrier: str,
        tracking_no: str,
        until: datetime,
        *,
        heard: Callable[[], bool] | None = None,
    ) -> Taken | None:
        """Wait for an actor or the courier's final word on the parcel (with `heard`, an earlier
        scan too: the courier's first event); poll the courier in case no webhook comes."""
        by_retries = workflow.patched(POLL_BY_RETRIES)
        query = c.ParcelQuery(
            ticket_no=self._ticket.ticket_no,
            carrier=carrier,
            tracking_no=tracking_no,
            ask_once=by_retries,
        )
        if heard is not None:
            query.until = [*query.until, *SCANNED]
        summary = f"Follow the return parcel {carrier} {tracking_no}"
        if by_retries:
            tracker = workflow.start_activity(
                c.TRACK_PARCEL,
                query,
                result_type=c.ParcelStatus,
                schedule_to_close_timeout=until - workflow.now() + TRACKING_GRACE,
                start_to_close_timeout=PARCEL_ASK,
                heartbeat_timeout=HEARTBEAT,
                retry_policy=PARCEL_POLL_RETRY,
                # Leaving the state asks the poll to stop: at once between polls, at the next
                # heartbeat during one. The ticket goes on meanwhile and ends only once the poll
                # has stopped (ReturnParcel.polls_stopped).
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                summary=summary,
            )
        else:
            tracker = workflow.start_activity(
                c.TRACK_PARCEL,
                query,
                result_type=c.ParcelStatus,
                start_to_close_timeout=until - workflow.now() + TRACKING_GRACE,
                heartbeat_timeout=HEARTBEAT,
                retry_policy=TRACKING_RETRY,
                cancellation_type=ActivityCancellationType.ABANDON,
                summary=summary,
            )
        # Once the ticket stops waiting, the poll's outcome is no longer news.
        tracker.add_done_callback(lambda done: done.cancelled() or done.exception())
        polled = False

        def scanned() -> bool:
            return heard is not None and heard()

        def courier_spoke() -> bool:
            return self._parcel.news is not None or scanned() or (tracker.done() and not polled)

        try:
            while True:
                taken = await self._inbox.take(
                    until, also=courier_spoke, also_means="the courier's report on the parcel"
                )
                if tracker.done() and not polled:
                    polled = True
                    if not tracker.cancelled() and tracker.exception() is None:
                        for event in tracker.result().events:
                            self._parcel.apply_tracking_event(event)
                if taken or self._parcel.news or scanned() or workflow.now() >= until:
                    return taken
        finally:
            if by_retries:
                self._parcel.stop_asking(tracker)
            elif not tracker.done():
                tracker.cancel()
