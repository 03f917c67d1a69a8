"""Actor actions reach the ticket's workflow as Updates: accepted or refused at once."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.contracts import ActionResult
from api.problems import Problem
from workflows.ticket import ILLEGAL_TRANSITION, VERSION_CONFLICT

_CONFLICTS = {ILLEGAL_TRANSITION: "illegal_transition", VERSION_CONFLICT: "version_conflict"}


async def send_action(
    temporal: Client,
    ticket_no: str,
    update: Any,
    argument: Any,
    idempotency_key: str | None,
) -> ActionResult:
    """The `Idempotency-Key` serves as the Update id, which Temporal deduplicates."""
    handle = temporal.get_workflow_handle(ticket_no)
    try:
        result: ActionResult = await handle.execute_update(
            update, argument, id=idempotency_key, result_type=ActionResult
        )
    except WorkflowUpdateFailedError as failed:
        cause = failed.cause
        if isinstance(cause, ApplicationError) and cause.type in _CONFLICTS:
            raise Problem(409, _CONFLICTS[cause.type], cause.message) from failed
        raise
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise Problem(409, "illegal_transition", "the ticket is closed") from error
        raise Problem(503, "temporal_unavailable", error.message) from error
    return result
