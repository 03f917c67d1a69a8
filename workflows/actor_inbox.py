"""How actor actions reach a waiting flow: validated, handed over, answered once recorded."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    import contracts as c
    from domain.actions import Action, may_now
    from domain.tickets import Actor

import contextlib

from workflows.ticket_record import TicketRecord

ILLEGAL_TRANSITION = "IllegalTransition"
VERSION_CONFLICT = "VersionConflict"
INVALID_ACTION = "InvalidAction"

Taken = tuple[Action, Any]


def invalid(code: str, message: str) -> ApplicationError:
    """An action the ticket's rules refuse whatever its state (the API answers 422)."""
    return ApplicationError(message, code, type=INVALID_ACTION)


class ActorInbox(TicketRecord):
    def __init__(self, ticket: c.TicketInput) -> None:
        super().__init__(ticket)
        self._inbox: Taken | None = None

    def expect(self, action: Action, request: c.ActorAction) -> None:
        """Validators refuse before anything is written to the history."""
        if not may_now(request.actor, action, self._status):
            raise ApplicationError(self._refusal(action), type=ILLEGAL_TRANSITION)
        if self._inbox is not None:
            raise ApplicationError(
                f"{action} is not possible: another action on the ticket is being applied",
                type=ILLEGAL_TRANSITION,
            )
        if self._deadline_at is not None and workflow.now() >= self._deadline_at:
            raise ApplicationError(
                f"{action} is not possible: the deadline passed at "
                f"{self._deadline_at:%Y-%m-%d %H:%M:%S} UTC; then: {self._on_timeout}",
                type=ILLEGAL_TRANSITION,
            )
        expected = request.expected_version
        if expected is not None and expected != self._version:
            raise ApplicationError(
                f"the ticket is at version {self._version}, not {expected}",
                type=VERSION_CONFLICT,
            )

    def _refusal(self, action: Action) -> str:
        refusal = f"{action} is not possible: the ticket is {self._status}"
        if self._last_actor is Actor.system and self._last_reason:
            # Most often a deadline acted first: say what happened instead.
            refusal += f" ({self._last_reason})"
        return refusal

    async def accept(self, action: Action, request: c.ActorAction) -> c.ActionResult:
        self._inbox = (action, request)
        # Answer once the resulting transition is stored, so the caller reads the new state.
        version = self._version
        await workflow.wait_condition(lambda: self._recorded_version > version)
        return c.ActionResult(status=self._status, version=self._version)

    async def await_actor(self, until: datetime | None, *, also: Any = None) -> Taken | None:
        """The next accepted action, or None when `until` passed first (or `also()` held)."""

        def ready() -> bool:
            return self._inbox is not None or bool(also and also())

        if until is None:
            await workflow.wait_condition(ready)
        elif not ready() and until > workflow.now():
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(ready, timeout=until - workflow.now())
        taken, self._inbox = self._inbox, None
        return taken
