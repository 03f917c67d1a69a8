"""Return labels: the courier books the return parcel and issues its label on approval."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

import contracts as c
from adapters.couriers.port import (
    CourierClient,
    CourierRefused,
    CourierUnavailable,
    LabelParty,
    carrier_code,
)
from persistence.labels import IssuedByCourier, label_of, label_parties, store_label
from persistence.models import ReturnLabel

log = logging.getLogger("aftersales.labels")


def label_key(ticket_no: str) -> str:
    """One label per ticket: every retry asks the courier under the same key."""
    return f"return-label-{ticket_no}"


def issued(label: ReturnLabel) -> c.IssuedLabel:
    return c.IssuedLabel(
        label_id=label.label_id,
        carrier=label.carrier,
        tracking_no=label.tracking_no,
        dropoff_code=label.dropoff_code,
        issued_at=label.issued_at,
    )


def _refused(message: str) -> ApplicationError:
    return ApplicationError(message, type=c.RETURN_LABEL_REFUSED, non_retryable=True)


class ReturnLabelActivities:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        couriers: Mapping[str, CourierClient],
        carrier: str,
    ) -> None:
        self._sessions = sessions
        self._couriers = couriers
        self._carrier = carrier_code(carrier)

    @activity.defn(name=c.ISSUE_RETURN_LABEL)
    async def issue_return_label(self, request: c.LabelRequest) -> c.IssuedLabel:
        """The ticket's label, asked for once: a courier outage fails the attempt (retried under
        the same idempotency key); an address the courier cannot use fails it for good."""
        ticket_no = request.ticket_no
        async with self._sessions() as session:
            stored = await label_of(session, ticket_no)
            if stored is not None:
                return issued(stored)
            parties = await label_parties(session, ticket_no)
        if parties is None:
            raise ApplicationError(f"ticket {ticket_no} is not stored yet")
        if not parties.sender_address:
            raise _refused("the order has no delivery address to send the parcel from")
        if not parties.recipient_address:
            raise _refused("the merchant has no returns warehouse to send the parcel to")
        courier = self._couriers.get(self._carrier)
        if courier is None:
            raise _refused(f"no courier client for carrier {self._carrier!r}")
        key = label_key(ticket_no)
        try:
            label = await courier.create_label(
                self._carrier,
                ticket_no,
                LabelParty(name=parties.sender_name, address=parties.sender_address),
                LabelParty(name=parties.recipient_name, address=parties.recipient_address),
                key,
            )
        except CourierRefused as refused:
            raise _refused(f"the courier refused the label: {refused}") from refused
        except CourierUnavailable as unavailable:
            log.warning("return label for %s: %s; asking again", ticket_no, unavailable)
            raise
        async with self._sessions.begin() as session:
            stored = await store_label(
                session,
                ticket_no,
                key,
                IssuedByCourier(
                    label_id=label.label_id,
                    carrier=label.carrier,
                    tracking_no=label.tracking_no,
                    dropoff_code=label.dropoff_code,
                    document_url=label.document_url,
                ),
                parties,
                datetime.now(UTC),
            )
        return issued(stored)
