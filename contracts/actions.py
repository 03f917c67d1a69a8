"""Actor actions: the Updates a ticket's workflow takes, their answers and refusals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field
from temporalio.exceptions import ApplicationError

from contracts.activities import InspectedLine
from domain.tickets import Actor, TicketStatus

# `ApplicationError.type` of a refused action; the API maps each to its HTTP answer.
# Not possible in the ticket's state (409 `illegal_transition`).
ILLEGAL_TRANSITION = "IllegalTransition"
# `expected_version` is stale (409 `version_conflict`).
VERSION_CONFLICT = "VersionConflict"
# Another action, or a deadline's or courier's outcome, is being applied (409 `action_in_progress`).
ACTION_IN_PROGRESS = "ActionInProgress"
# The request breaks a rule of the ticket whatever its state (422, with the code as detail).
INVALID_ACTION = "InvalidAction"

# The problem code of a refusal because the ticket is busy: the same action later may be taken.
BUSY_CODE = "action_in_progress"
# The stable problem code of each conflict the workflow refuses with.
_CONFLICTS = {
    ILLEGAL_TRANSITION: "illegal_transition",
    VERSION_CONFLICT: "version_conflict",
    ACTION_IN_PROGRESS: BUSY_CODE,
}


@dataclass(frozen=True)
class Refusal:
    """A refused action as the caller is told it: HTTP status, stable code and the reason."""

    status: int
    code: str
    message: str


def refusal_of(cause: BaseException | None) -> Refusal:
    """What the workflow's refusal (the failed Update's cause) means to the one who acted."""
    if isinstance(cause, ApplicationError):
        if cause.type in _CONFLICTS:
            return Refusal(409, _CONFLICTS[cause.type], cause.message)
        if cause.type == INVALID_ACTION:
            code = str(cause.details[0]) if cause.details else "invalid_action"
            return Refusal(422, code, cause.message)
    return Refusal(502, "action_failed", f"the ticket could not take the action: {cause}")


class ActorAction(BaseModel):
    """What every actor action carries; the API fills in who acts."""

    actor: Actor = Actor.support
    actor_id: str | None = None
    expected_version: int | None = None
    note: str = ""


class Evidence(ActorAction):
    """The buyer's evidence photos, asked for by a merchant rule before review."""

    photos: list[str]


class SecondApproval(ActorAction):
    """Support's decision on a refund above the second-approval threshold."""

    approve: bool


class RetryRefund(ActorAction):
    """Support sends a failed refund again (a new attempt under a new idempotency key)."""

    destination: str | None = None
    destination_details: dict[str, Any] | None = None


class Approve(ActorAction):
    service_fee: int = Field(0, ge=0)
    warehouse_id: str | None = None


class Reject(ActorAction):
    reason_code: str


class Shipping(ActorAction):
    """The buyer's return parcel or the merchant's replacement."""

    carrier: str
    tracking_no: str


class Cancel(ActorAction):
    pass


class Escalate(ActorAction):
    reason: str


class Inspection(ActorAction):
    lines: list[InspectedLine]
    photos: list[str] = Field(default_factory=list)


class ResolveInspection(ActorAction):
    decision: Literal["partial_refund", "return_to_buyer"]
    amount: int | None = Field(None, ge=0)


class ConfirmReceipt(ActorAction):
    pass


class Arbitration(ActorAction):
    decision: Literal["refund", "partial_refund", "reject", "return_to_buyer"]
    amount: int | None = Field(None, ge=0)


class ActionResult(BaseModel):
    status: TicketStatus
    version: int
