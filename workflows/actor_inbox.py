"""How actor actions reach a waiting step: one at a time, validated, answered once recorded.

The inbox is open only while a step waits for an actor. From the moment an action is accepted,
or a deadline or a courier's report ends the wait, until the step has recorded what it applied,
every other action is refused (`action_in_progress`): Update handlers interleave at every
`await`, and a second action validated against the old state would otherwise be answered with
the first one's outcome and handed to the next state.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    import contracts as c
    from domain.actions import Action, may_now
    from domain.lateness import lateness
    from domain.tickets import Actor

from workflows.ticket_record import TicketRecord

Taken = tuple[Action, Any]
OPENING = "the ticket is being opened"
REOPENING = "the refund that came back is being booked"


def invalid(code: str, message: str) -> ApplicationError:
    """An action the ticket's rules refuse whatever its state (the API answers 422)."""
    return ApplicationError(message, code, type=c.INVALID_ACTION)


class ActorInbox:
    def __init__(self, record: TicketRecord, *, reopened: bool = False) -> None:
        self._record = record
        self._slot: Taken | None = None
        # What is being applied while no step waits for an actor; None while one waits.
        self._busy: str | None = REOPENING if reopened else OPENING

    def check(self, action: Action, request: c.ActorAction) -> None:
        """Validators refuse before anything is written to the history."""
        record = self._record
        if record.deadline_passed():
            assert record.deadline_at is not None
            raise ApplicationError(
                f"{action} is not possible: the deadline passed at "
                f"{record.deadline_at:%Y-%m-%d %H:%M:%S} UTC; then: {record.on_timeout}",
                type=c.ILLEGAL_TRANSITION,
            )
        busy = self._busy if self._slot is None else _applying(*self._slot)
        if busy is not None:
            raise ApplicationError(
                f"{action} is not possible right now: {busy}; send it again once that is done",
                type=c.ACTION_IN_PROGRESS,
            )
        if not may_now(request.actor, action, record.status):
            raise ApplicationError(self._refusal(action), type=c.ILLEGAL_TRANSITION)
        expected = request.expected_version
        if expected is not None and expected != record.version:
            raise ApplicationError(
                f"the ticket is at version {record.version}, not {expected}",
                type=c.VERSION_CONFLICT,
            )

    def _refusal(self, action: Action) -> str:
        record = self._record
        refusal = f"{action} is not possible: the ticket is {record.status}"
        if record.last_actor is Actor.system and record.last_reason:
            # Most often a deadline acted first: say what happened instead.
            refusal += f" ({record.last_reason})"
        return refusal

    async def accept(self, action: Action, request: c.ActorAction) -> c.ActionResult:
        self._slot = (action, request)
        self._busy = _applying(action, request)
        # Answer once the resulting transition is recorded, so the caller reads the new state.
        record = self._record
        version = record.version
        await workflow.wait_condition(lambda: record.recorded_version > version)
        return c.ActionResult(status=record.status, version=record.version)

    async def take(
        self,
        until: datetime | None,
        *,
        also: Callable[[], bool] | None = None,
        also_means: str = "",
        keep_open: bool = False,
        also_keeps_open: bool = False,
    ) -> Taken | None:
        """The next accepted action, or None when `until` passed first (or `also()` held).

        Without an action the wait ended for the deadline (or `also`): the inbox stays closed
        while the step applies that outcome, unless `keep_open` (a reminder changes nothing),
        or `also_keeps_open` and it was `also` (a note that changes nothing an actor acts on);
        an action accepted meanwhile is the next `take`'s."""

        def ready() -> bool:
            return self._slot is not None or bool(also and also())

        self._busy = None
        if until is None:
            await workflow.wait_condition(ready)
        elif not ready() and until > workflow.now():
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(ready, timeout=until - workflow.now())
        taken, self._slot = self._slot, None
        if taken is None and not keep_open:
            outside = also is not None and also()
            if outside and also_keeps_open:
                return None
            self._busy = also_means if outside else "the outcome of the ticket's deadline"
            self._busy += " is being applied"
            if not outside and until is not None:
                # A timer that fell due while the engine was down fires once it is back.
                self._record.applying_late(lateness(until, workflow.now()))
        return taken

    def step_done(self) -> None:
        """The step has recorded what it applied: the next state's refusals speak for it."""
        self._busy = None
        self._record.applying_late(None)  # a lateness not applied ends with its step

    async def next(self) -> Taken:
        """The next action of a state without deadline."""
        taken = await self.take(None)
        assert taken is not None
        return taken


def _applying(action: Action, request: c.ActorAction) -> str:
    return f"the {request.actor}'s {action} is being applied"
