"""The ticket's own state inside its workflow, and how each change is recorded and shown."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    import contracts as c
    from contracts import search_attributes as sa
    from domain.tickets import TERMINAL_STATUSES, Actor, TicketStatus

DB_WRITE = timedelta(seconds=30)
NOTIFY_ON_TRANSITION = "notify-on-transition"
NOTIFY_CALL = timedelta(seconds=60)
# Mail, SMS and webhook outages are retried for hours; a row already sent is never sent again.
NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=30),
    maximum_attempts=20,
)


class TicketRecord:
    """State every flow shares; `transition` is the only way the status changes."""

    def __init__(self, ticket: c.TicketInput) -> None:
        self._ticket = ticket
        self._status = TicketStatus.submitted
        self._version = 0
        self._recorded_version = 0
        self._seq = 0
        self._next_actor: Actor | None = Actor.system
        self._deadline_at: datetime | None = None
        self._on_timeout: str | None = None
        self._refund: c.RefundState | None = None
        self._refunded_amount = 0
        # The last recorded step, so a late action can be told what happened instead.
        self._last_event = ""
        self._last_reason = ""
        self._last_actor: Actor = Actor.system
        self._deliveries: list[workflow.ActivityHandle[Any]] = []

    async def transition(
        self,
        event: str,
        to: TicketStatus,
        reason: str,
        *,
        data: dict[str, Any] | None = None,
        next_actor: Actor | None = Actor.system,
        actor: Actor = Actor.system,
        actor_id: str | None = None,
        deadline_at: datetime | None = None,
        on_timeout: str | None = None,
        granted_amount: int | None = None,
        **extra: Any,
    ) -> None:
        """`extra` carries the optional parts of `c.Transition` (shipment, inspection, ...)."""
        self._seq += 1
        self._version += 1
        version = self._version
        previous, self._status = self._status, to
        self._last_event, self._last_reason, self._last_actor = event, reason, actor
        self._next_actor = next_actor
        if to in TERMINAL_STATUSES:
            deadline_at, on_timeout = None, None
        self._deadline_at, self._on_timeout = deadline_at, on_timeout
        workflow.upsert_search_attributes(
            [
                sa.TICKET_STATUS.value_set(to),
                sa.DEADLINE_AT.value_set(deadline_at)
                if deadline_at
                else sa.DEADLINE_AT.value_unset(),
            ]
        )
        self.show_details()
        # A local activity: a short write of the read model, kept next to the workflow task.
        await workflow.execute_local_activity(
            c.RECORD_TRANSITION,
            c.Transition(
                ticket_no=self._ticket.ticket_no,
                seq=self._seq,
                version=version,
                at=workflow.now(),
                actor_role=actor,
                actor_id=actor_id,
                event=event,
                from_status=previous,
                to_status=to,
                reason=reason,
                data=data or {},
                next_actor=next_actor,
                deadline_at=deadline_at,
                on_timeout=on_timeout,
                granted_amount=granted_amount,
                **extra,
            ),
            start_to_close_timeout=DB_WRITE,
            summary=f"Record {event}: {previous} → {to}",
        )
        self._recorded_version = max(self._recorded_version, version)
        self._notify(event)

    async def note(self, event: str, reason: str, data: dict[str, Any] | None = None) -> None:
        """A timeline entry that changes neither state nor version (a reminder, an event)."""
        self._seq += 1
        await workflow.execute_local_activity(
            c.RECORD_TRANSITION,
            c.Transition(
                ticket_no=self._ticket.ticket_no,
                seq=self._seq,
                version=self._version,
                at=workflow.now(),
                actor_role=Actor.system,
                event=event,
                from_status=self._status,
                to_status=self._status,
                reason=reason,
                data=data or {},
                next_actor=self._next_actor,
                deadline_at=self._deadline_at,
                on_timeout=self._on_timeout,
            ),
            start_to_close_timeout=DB_WRITE,
            summary=f"Record {event}",
        )
        self._notify(event)

    def _notify(self, event: str) -> None:
        """Send what the step just recorded owes its recipients, without holding the ticket up.

        Tickets started before notifications existed carry no marker and send nothing."""
        if not workflow.patched(NOTIFY_ON_TRANSITION):
            return
        self._deliveries.append(
            workflow.start_activity(
                c.DELIVER_NOTIFICATIONS,
                c.NotificationBatch(ticket_no=self._ticket.ticket_no, seq=self._seq),
                start_to_close_timeout=NOTIFY_CALL,
                retry_policy=NOTIFY_RETRY,
                summary=f"Notify about {event}",
            )
        )

    async def deliveries_finished(self) -> None:
        """A workflow that ends abandons its activities: let the notifications go out first."""
        await asyncio.gather(*self._deliveries, return_exceptions=True)

    def show_details(self) -> None:
        deadline = (
            f"{self._deadline_at:%Y-%m-%d %H:%M:%S} UTC, then {self._on_timeout}"
            if self._deadline_at
            else "none"
        )
        refund = (
            f"{self._refund.status} at {self._refund.provider}"
            f" ({self._refund.provider_refund_id or 'not yet accepted'})"
            if self._refund
            else "not started"
        )
        workflow.set_current_details(
            f"**State:** {self._status}\n\n"
            f"**Next actor:** {self._next_actor or 'nobody'}\n\n"
            f"**Deadline:** {deadline}\n\n"
            f"**Refund:** {refund}"
            + "".join(f"\n\n**{label}:** {value}" for label, value in self.more_details())
        )

    def more_details(self) -> list[tuple[str, str]]:
        """Lines later steps add to the details support reads in the Temporal UI."""
        return [("Last step", self._last_reason)] if self._last_reason else []
