"""Delivering the notifications a recorded transition planned (SPEC §7).

Each row is claimed, sent and marked in one short transaction of its own, holding the row's lock
while it is sent: a retried or overlapping attempt skips what another attempt holds and never
sees a sent row again. A failed row stays `failed` with its error, and the activity raises at the
end so Temporal retries, with backoff, only what is still unsent.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

import contracts as c
from activities.heartbeats import heartbeating
from adapters.notifications import DeliveryFailed, Email, Mailer, SmsGateway, WebhookSender
from domain.notifications import Channel
from observability import metrics
from persistence import notifications as repo
from persistence.models import Notification


def message_id(row: Notification) -> str:
    """The same for every attempt at one notification, so a resent mail is a known duplicate."""
    return f"<{row.event_key.replace(':', '.')}.n{row.notification_id}@aftersales.notifications>"


class NotificationActivities:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        mailer: Mailer,
        sms: SmsGateway,
        webhooks: WebhookSender,
    ) -> None:
        self._sessions = sessions
        self._mailer = mailer
        self._sms = sms
        self._webhooks = webhooks

    @activity.defn(name=c.DELIVER_NOTIFICATIONS)
    async def deliver_notifications(self, batch: c.NotificationBatch) -> int:
        """Send every unsent notification of one transition; the number sent by this attempt."""
        async with heartbeating():
            return await self._deliver(batch)

    async def _deliver(self, batch: c.NotificationBatch) -> int:
        async with self._sessions() as session:
            ids = await repo.undelivered_ids(session, batch.ticket_no, batch.seq)
        sent, errors = 0, []
        for notification_id in ids:
            async with self._sessions.begin() as session:
                row = await repo.claim(session, notification_id)
                if row is None:
                    continue
                channel = row.channel
                try:
                    reference = await self._send(row)
                except DeliveryFailed as error:
                    repo.mark_failed(row, str(error))
                    errors.append(f"{row.recipient_role} {row.channel}: {error}")
                    delivered = False
                else:
                    inbox = row.channel == Channel.inbox
                    repo.mark_sent(row, reference, repo.DELIVERED if inbox else repo.SENT)
                    sent += 1
                    delivered = True
            # Once its mark is committed: a sent row is never claimed again.
            metrics.notification_delivered(channel, delivered)
        if errors:
            raise ApplicationError(
                f"{len(errors)} notification(s) of {batch.ticket_no} #{batch.seq} not delivered: "
                + "; ".join(errors),
                type="NotificationsUndelivered",
            )
        return sent

    async def _send(self, row: Notification) -> str | None:
        match row.channel:
            case Channel.inbox:
                return None
            case Channel.email if row.address:
                return await self._mailer.send(
                    Email(row.address, row.subject, row.body, row.locale, message_id(row))
                )
            case Channel.sms if row.address:
                return await self._sms.send(
                    row.address, row.body, f"notification-{row.notification_id}"
                )
            case Channel.webhook if row.address:
                return await self._webhooks.post(
                    row.address, row.payload, f"notification-{row.notification_id}"
                )
        raise DeliveryFailed(f"nothing can deliver {row.channel} to {row.address!r}")
