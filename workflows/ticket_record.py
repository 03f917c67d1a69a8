"""The record of a ticket: its status, version, timeline sequence and deadline, and how each
change is written to the read model and told to the people involved.

Only this part writes those fields; steps change them through `transition` and `note`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    import contracts as c
    from contracts import search_attributes as sa
    from domain.events import TicketEvent
    from domain.lateness import applied_late
    from domain.text import storable_copy
    from domain.tickets import TERMINAL_STATUSES, Actor, TicketStatus

from workflows.timeouts import DB_RETRY, DB_WRITE, HEARTBEAT, NOTIFY_CALL, NOTIFY_RETRY

NOTIFY_ON_TRANSITION = "notify-on-transition"
# Every recorded step used to start a delivery of its notifications; now only a step that has
# something to send does (an inbox message is delivered by being stored).
DELIVER_ONLY_WHAT_IS_SENT = "deliver-only-what-is-sent"
# Tickets from before go on failing as they did when a step cannot be stored.
UNSTORABLE_STEP_TO_SUPPORT = "unstorable-step-to-support"

Details = Callable[[], list[tuple[str, str]]]


def _unstorable(error: ActivityError) -> bool:
    cause = error.cause
    return isinstance(cause, ApplicationError) and cause.type == c.UNSTORABLE_DATA


class TicketRecord:
    """`transition` is the only way the status changes."""

    def __init__(self, ticket: c.TicketInput) -> None:
        self._ticket_no = ticket.ticket_no
        self.status = TicketStatus.submitted
        self.version = 0
        # The highest version the read model holds: an action is answered once its step is there.
        self.recorded_version = 0
        self.seq = 0
        self.next_actor: Actor | None = Actor.system
        self.deadline_at: datetime | None = None
        self.on_timeout: str | None = None
        # The last recorded step, so a late action can be told what happened instead.
        self.last_event: TicketEvent | None = None
        self.last_reason = ""
        self.last_actor: Actor = Actor.system
        # How late the timer fired whose outcome the next transition applies, when it was late.
        self._late: timedelta | None = None
        # Written by a local activity inside the workflow task (tickets from before) or by a
        # regular activity once the task that decided the step is committed.
        self.after_commit = False
        self._deliveries: list[workflow.ActivityHandle[Any]] = []
        self._details: list[Details] = []

    def resume(self, reopened: c.Reopening) -> None:
        """Carry on the record of a ticket whose earlier run ended, where it stood."""
        self.status = reopened.status
        self.version = self.recorded_version = reopened.version
        self.seq = reopened.seq
        self.next_actor = None

    def deadline_passed(self) -> bool:
        return self.deadline_at is not None and workflow.now() >= self.deadline_at

    def applying_late(self, late: timedelta | None) -> None:
        """A deadline ended the wait, its timer `late` (the engine was down when it fell due):
        the transition that applies its outcome says so."""
        self._late = late

    async def transition(
        self,
        event: TicketEvent,
        to: TicketStatus,
        reason: str,
        *,
        data: dict[str, Any] | None = None,
        next_actor: Actor | None = Actor.system,
        actor: Actor = Actor.system,
        actor_id: str | None = None,
        deadline_at: datetime | None = None,
        on_timeout: str | None = None,
        **extra: Any,
    ) -> None:
        """`extra` carries the optional parts of `c.Transition` (shipment, inspection, ...)."""
        if self._late is not None:
            reason, data = applied_late(reason, data or {}, self._late)
            self._late = None
        self.seq += 1
        self.version += 1
        version = self.version
        previous, self.status = self.status, to
        self.last_event, self.last_reason, self.last_actor = event, reason, actor
        self.next_actor = next_actor
        if to in TERMINAL_STATUSES:
            deadline_at, on_timeout = None, None
        self.deadline_at, self.on_timeout = deadline_at, on_timeout
        workflow.upsert_search_attributes(
            [
                sa.TICKET_STATUS.value_set(to),
                sa.DEADLINE_AT.value_set(deadline_at)
                if deadline_at
                else sa.DEADLINE_AT.value_unset(),
            ]
        )
        self.show_details()
        step = self._entry(event, reason, data, actor, actor_id, previous, **extra)
        to_send = await self._write(step, f"Record {event}: {previous} → {to}")
        self.recorded_version = max(self.recorded_version, version)
        self._notify(event, to_send)

    async def note(
        self, event: TicketEvent, reason: str, data: dict[str, Any] | None = None
    ) -> None:
        """A timeline entry that changes neither state nor version (a reminder, an event)."""
        self.seq += 1
        entry = self._entry(event, reason, data, Actor.system, None, self.status)
        self._notify(event, await self._write(entry, f"Record {event}"))

    def _entry(
        self,
        event: TicketEvent,
        reason: str,
        data: dict[str, Any] | None,
        actor: Actor,
        actor_id: str | None,
        previous: TicketStatus,
        **extra: Any,
    ) -> c.Transition:
        return c.Transition(
            ticket_no=self._ticket_no,
            seq=self.seq,
            version=self.version,
            at=workflow.now(),
            actor_role=actor,
            actor_id=actor_id,
            event=event,
            from_status=previous,
            to_status=self.status,
            reason=reason,
            data=data or {},
            next_actor=self.next_actor,
            deadline_at=self.deadline_at,
            on_timeout=self.on_timeout,
            **extra,
        )

    async def _write(self, entry: c.Transition, summary: str) -> int | None:
        """How many of the step's notifications are to be sent; None: not known (a worker of
        before, or a test's activity, that says nothing)."""
        try:
            return await self._record(entry, summary)
        except ActivityError as error:
            if not _unstorable(error) or not workflow.patched(UNSTORABLE_STEP_TO_SUPPORT):
                raise
            return await self._record_for_support(entry, summary, str(error.cause))

    async def _record_for_support(self, entry: c.Transition, summary: str, why: str) -> int | None:
        """The step stands (Temporal holds it); the read model gets it with the text it cannot
        store replaced, and the ticket is marked for support with the reason."""
        workflow.logger.error(
            "%s: step %s not storable as sent: %s", self._ticket_no, entry.seq, why
        )
        stored = c.Transition.model_validate(storable_copy(entry.model_dump(mode="json")))
        stored.data["unstorable"] = why
        stored.escalated = True
        workflow.upsert_search_attributes([sa.ESCALATED.value_set(True)])
        self.last_reason = f"{entry.reason} (recorded for support: {why})"
        return await self._record(stored, f"{summary}, for support")

    async def _record(self, entry: c.Transition, summary: str) -> int | None:
        if self.after_commit:
            # Runs only once Temporal holds the decision: the read model never shows a step that
            # a lost workflow task took and its retry did not.
            to_send: int | None = await workflow.execute_activity(
                c.RECORD_TRANSITION,
                entry,
                start_to_close_timeout=DB_WRITE,
                retry_policy=DB_RETRY,
                summary=summary,
            )
            return to_send
        # Run again by the next workflow task when the worker is lost: bounded like the rest.
        await workflow.execute_local_activity(
            c.RECORD_TRANSITION,
            entry,
            start_to_close_timeout=DB_WRITE,
            retry_policy=DB_RETRY,
            summary=summary,
        )
        return None

    def _notify(self, event: TicketEvent, to_send: int | None) -> None:
        """Send what the step just recorded owes its recipients, without holding the ticket up.

        Tickets started before notifications existed carry no marker and send nothing."""
        if not workflow.patched(NOTIFY_ON_TRANSITION):
            return
        if to_send == 0 and workflow.patched(DELIVER_ONLY_WHAT_IS_SENT):
            return
        self._deliveries.append(
            workflow.start_activity(
                c.DELIVER_NOTIFICATIONS,
                c.NotificationBatch(ticket_no=self._ticket_no, seq=self.seq),
                start_to_close_timeout=NOTIFY_CALL,
                heartbeat_timeout=HEARTBEAT,
                retry_policy=NOTIFY_RETRY,
                summary=f"Notify about {event}",
            )
        )

    async def deliveries_finished(self) -> None:
        """A workflow that ends abandons its activities: let the notifications go out first."""
        await asyncio.gather(*self._deliveries, return_exceptions=True)

    def add_details(self, details: Details) -> None:
        """Lines another part adds to the details support reads in the Temporal UI."""
        self._details.append(details)

    def show_details(self) -> None:
        deadline = (
            f"{self.deadline_at:%Y-%m-%d %H:%M:%S} UTC, then {self.on_timeout}"
            if self.deadline_at
            else "none"
        )
        lines = [
            ("State", str(self.status)),
            ("Next actor", str(self.next_actor or "nobody")),
            ("Deadline", deadline),
        ]
        for details in self._details:
            lines += details()
        if self.last_reason:
            lines.append(("Last step", self.last_reason))
        workflow.set_current_details("\n\n".join(f"**{label}:** {value}" for label, value in lines))
