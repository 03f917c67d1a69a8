"""A bulk run: one action over many tickets, each ticket's action its own Update of its workflow.

The run and a row per ticket are stored before the workflow starts (the run id is the workflow
id); the workflow applies the action a batch of positions at a time and the activity writes each
ticket's outcome as it comes, so the run is read from the database while it goes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from domain.tickets import Actor

APPLY_BULK_BATCH = "apply_bulk_batch"
FINISH_BULK = "finish_bulk"


class BulkAction(StrEnum):
    """What a bulk run does to each ticket, and the one Update it sends for it."""

    approve = "approve"
    reject = "reject"
    # The warehouse's inspection with every line accepted in full.
    inspection_pass = "inspection-pass"

    @property
    def update(self) -> str:
        return "inspection" if self is BulkAction.inspection_pass else self.value


class BulkOutcome(StrEnum):
    pending = "pending"
    done = "done"
    failed = "failed"


class BulkRun(BaseModel):
    """The workflow's input: who acts on which tickets (those of `merchant_id` or `warehouse_id`
    only), the action's fields as sent once for all, and how many tickets there are."""

    run_id: str
    action: BulkAction
    actor: Actor
    actor_id: str | None
    merchant_id: str | None = None
    warehouse_id: str | None = None
    fields: dict[str, Any]
    # Whether the actor's role reads the buyer's risk, which a refusal's reason may name.
    sees_risk: bool
    total: int
    # Tickets of one activity, and activities at once: the run's share of the engine.
    batch_size: int = 10
    in_flight: int = 2
    # Tickets a second the run starts at most, its batches together.
    rate: float = 2.0


class BulkBatch(BaseModel):
    run: BulkRun
    # Positions [offset, offset + size) of the run's tickets.
    offset: int
    size: int


class BulkCounts(BaseModel):
    done: int = 0
    failed: int = 0

    def add(self, other: BulkCounts) -> None:
        self.done += other.done
        self.failed += other.failed


class BulkTicketResult(BaseModel):
    """One ticket's outcome: its new state, or why the action was refused."""

    ticket_no: str
    outcome: BulkOutcome
    status: str | None = None
    version: int | None = None
    code: str | None = None
    message: str | None = None
