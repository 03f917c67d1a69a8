"""The return parcel: what the buyer shipped and what the courier said about it.

Only this part writes these fields; courier signals and the return steps feed it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import contracts as c
    from domain.tickets import TicketStatus

from workflows.ticket_record import TicketRecord

# The courier's final words on a parcel: the return step acts on them.
FINAL_TRACKING = ("delivered", "lost")
# The courier has the parcel: a fast refund (a merchant rule) pays on the first of these.
SCANNED = ("picked_up", "in_transit")
# The courier poll used to run in one long attempt, holding a worker slot while the parcel
# travelled, and was abandoned when the ticket stopped waiting (an ended ticket still showed it
# pending in the Temporal UI). Now each poll is one attempt and the retries wait between them;
# the poll is cancelled, and the ticket ends only once it has stopped.
POLL_BY_RETRIES = "parcel-poll-by-retries"


class ReturnParcel:
    def __init__(self, record: TicketRecord) -> None:
        self._record = record
        self.parcel: c.ShipmentRecord | None = None
        # A courier's final word on the return parcel, waiting to be acted on.
        self.news: c.TrackingSignal | None = None
        # The courier's first scan of the return parcel, for a fast refund that waits for it.
        self.first_scan: c.TrackingSignal | None = None
        # The courier's label for the return parcel, when it issued one.
        self.label: c.IssuedLabel | None = None
        # The courier's first event on the label's parcel while the ticket awaits the return:
        # the buyer handed the parcel over, and the ticket follows it from there.
        self.label_scan: c.TrackingSignal | None = None
        # A final word on the label's parcel that came with or before its first scan.
        self._label_final: c.TrackingSignal | None = None
        self._seen: set[str] = set()
        # Courier requests asked to stop (cancelled, waiting for the worker to confirm).
        self._polls: list[asyncio.Future[Any]] = []

    def apply_tracking_event(self, event: c.TrackingSignal) -> None:
        # Couriers redeliver webhooks; an event seen once changes nothing the second time.
        if event.event_id in self._seen:
            return
        self._seen.add(event.event_id)
        if self._for_label(event):
            self._apply_label_event(event)
            return
        if self.parcel is None or event.tracking_no != self.parcel.tracking_no:
            return
        if self._record.status is not TicketStatus.return_in_transit:
            return
        if event.status in FINAL_TRACKING:
            self.news = event
        elif event.status in SCANNED and self.first_scan is None:
            self.first_scan = event

    def _for_label(self, event: c.TrackingSignal) -> bool:
        return (
            self.label is not None
            and self.parcel is None
            and event.tracking_no == self.label.tracking_no
            and self._record.status is TicketStatus.awaiting_buyer_return
        )

    def _apply_label_event(self, event: c.TrackingSignal) -> None:
        if self.label_scan is None:
            self.label_scan = event
        if event.status in FINAL_TRACKING:
            self._label_final = event
        elif event.status in SCANNED and self.first_scan is None:
            self.first_scan = event

    def labelled(self, label: c.IssuedLabel) -> None:
        self.label = label

    def shipped_by_label(self) -> c.ShipmentRecord:
        """The courier has the label's parcel: what it said so far becomes the parcel's news."""
        assert self.label is not None
        self.parcel = c.ShipmentRecord(
            direction="return",
            carrier=self.label.carrier,
            tracking_no=self.label.tracking_no,
            shipped_at=workflow.now(),
        )
        self.news, self._label_final = self._label_final, None
        return self.parcel

    def shipped(self, request: c.Shipping) -> c.ShipmentRecord:
        self.parcel = c.ShipmentRecord(
            direction="return",
            carrier=request.carrier,
            tracking_no=request.tracking_no,
            shipped_at=workflow.now(),
        )
        if self.label is not None and request.tracking_no == self.label.tracking_no:
            # The buyer typed the label's tracking number: what the courier said still counts.
            self.news, self._label_final = self._label_final, None
        else:
            self.first_scan = self._label_final = None
        return self.parcel

    def take_news(self) -> c.TrackingSignal | None:
        news, self.news = self.news, None
        return news

    def arrived(self, news: c.TrackingSignal) -> c.ShipmentRecord:
        assert self.parcel is not None
        self.parcel = self.parcel.model_copy(
            update={"status": "delivered", "delivered_at": news.at}
        )
        return self.parcel

    def lost(self) -> c.ShipmentRecord:
        assert self.parcel is not None
        self.parcel = self.parcel.model_copy(update={"status": "lost"})
        return self.parcel

    def stop_asking(self, request: asyncio.Future[Any]) -> None:
        """Ask a request to the courier that is no longer news (a poll, a label) to stop; the
        ticket ends after it has."""
        if not request.done():
            request.cancel()
            self._polls.append(request)

    async def polls_stopped(self) -> None:
        """A workflow that ends with an activity still running leaves it pending for good."""
        await asyncio.gather(*self._polls, return_exceptions=True)
