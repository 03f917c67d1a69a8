"""The return parcel: what the buyer shipped and what the courier said about it.

Only this part writes these fields; courier signals and the return steps feed it.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import contracts as c
    from domain.tickets import TicketStatus

from workflows.ticket_record import TicketRecord

# The courier's final words on a parcel: the return step acts on them.
FINAL_TRACKING = ("delivered", "lost")


class ReturnParcel:
    def __init__(self, record: TicketRecord) -> None:
        self._record = record
        self.parcel: c.ShipmentRecord | None = None
        # A courier's final word on the return parcel, waiting to be acted on.
        self.news: c.TrackingSignal | None = None
        self._seen: set[str] = set()

    def apply_tracking_event(self, event: c.TrackingSignal) -> None:
        # Couriers redeliver webhooks; an event seen once changes nothing the second time.
        if event.event_id in self._seen:
            return
        self._seen.add(event.event_id)
        if self.parcel is None or event.tracking_no != self.parcel.tracking_no:
            return
        if event.status in FINAL_TRACKING and self._record.status is TicketStatus.return_in_transit:
            self.news = event

    def shipped(self, request: c.Shipping) -> c.ShipmentRecord:
        self.parcel = c.ShipmentRecord(
            direction="return",
            carrier=request.carrier,
            tracking_no=request.tracking_no,
            shipped_at=workflow.now(),
        )
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
