"""The consistency check of SPEC §11: its activity, its request and the report it returns."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.tickets import Actor, TicketStatus

CHECK_CONSISTENCY = "check_consistency"


class DifferenceKind(StrEnum):
    # Written by a step Temporal never committed (a lost workflow task): repaired to the workflow's.
    row_ahead = "row_ahead"
    # A write in flight or failing: the workflow's own retries catch up, so it is only reported.
    row_behind = "row_behind"
    # Timeline entries beyond the workflow's sequence: steps of a lost task, reported.
    timeline_ahead = "timeline_ahead"
    # A note (a timeline entry without a new version) in flight or failing, reported.
    timeline_behind = "timeline_behind"
    # No workflow of that id, or it has ended while the row is open. A ticket with no step yet
    # whose start was lost (Temporal never heard of it) is started by a repair; one that ended
    # is only reported.
    workflow_missing = "workflow_missing"
    # The workflow did not answer its query (no worker polls, or its workflow task fails).
    workflow_unanswered = "workflow_unanswered"
    # Its workflow task has failed again and again (a bug, or data its code cannot take).
    workflow_task_failing = "workflow_task_failing"
    # One of its steps (an activity) keeps failing and retrying: the detail says which and why.
    step_retrying = "step_retrying"


class TicketSnapshot(BaseModel):
    """What the check compares, as the row (and its timeline) or the workflow's `state` holds it."""

    status: TicketStatus
    version: int
    # The timeline's highest sequence; the workflow's own sequence.
    seq: int
    next_actor: Actor | None = None
    deadline_at: datetime | None = None
    on_timeout: str | None = None

    def brief(self) -> str:
        deadline = self.deadline_at.isoformat(timespec="seconds") if self.deadline_at else "none"
        return f"{self.status} v{self.version} seq {self.seq} deadline {deadline}"


class ConsistencyRequest(BaseModel):
    repair: bool = False
    # Tickets read from PostgreSQL and asked of Temporal at a time.
    batch_size: int = Field(100, ge=1, le=1000)
    # Only these tickets (open ones among them); None checks every open ticket.
    ticket_nos: list[str] | None = None


class Difference(BaseModel):
    ticket_no: str
    kind: DifferenceKind
    row: TicketSnapshot
    workflow: TicketSnapshot | None = None
    repaired: bool = False
    detail: str = ""


class ConsistencyReport(BaseModel):
    tickets_checked: int = 0
    differences: list[Difference] = Field(default_factory=list)

    @property
    def unrepaired(self) -> list[Difference]:
        return [difference for difference in self.differences if not difference.repaired]
