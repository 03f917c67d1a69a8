"""Bulk actions: one body over many tickets (`POST /v1/tickets/bulk/{action}`), and the run read
back while it goes (`GET /v1/tickets/bulk/{bulk_id}`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, field_validator

from api.schemas.base import Amount, RequestModel
from contracts.bulk import BulkAction, BulkOutcome

MAX_TICKETS = 1000
BULK_ID = r"^[A-Za-z0-9_.-]+$"
BulkId = Annotated[str, Field(min_length=1, max_length=64, pattern=BULK_ID)]
TicketNo = Annotated[str, Field(min_length=1, max_length=32)]


class BulkBody(RequestModel):
    bulk_id: BulkId | None = Field(
        None,
        description="yours to choose: sent again, the same id finds the same run and changes "
        "nothing; one is made up when left out",
    )
    ticket_nos: list[TicketNo] = Field(min_length=1, max_length=MAX_TICKETS)
    note: str = Field("", max_length=1000)

    @field_validator("ticket_nos")
    @classmethod
    def _each_once(cls, ticket_nos: list[str]) -> list[str]:
        seen: set[str] = set()
        for ticket_no in ticket_nos:
            if ticket_no in seen:
                raise ValueError(f"{ticket_no} is listed twice")
            seen.add(ticket_no)
        return ticket_nos


class BulkApproveBody(BulkBody):
    service_fee: Amount = Field(
        0, description="minor units, for each ticket; refused on a ticket it does not fit"
    )
    warehouse_id: str | None = Field(
        None, max_length=64, description="where the goods go back; the shop's first by default"
    )


class BulkRejectBody(BulkBody):
    reason_code: str = Field(min_length=1, max_length=64)


class BulkInspectionPassBody(BulkBody):
    """Every line of each ticket accepted in full."""


class BulkTicketView(BaseModel):
    position: int
    ticket_no: str
    outcome: BulkOutcome
    status: str | None = Field(None, description="the ticket's state after the action")
    version: int | None = None
    code: str | None = Field(None, description="the problem code the action was refused with")
    message: str | None = None


class BulkView(BaseModel):
    bulk_id: str
    action: BulkAction
    status: str = Field(description="`running` until every ticket has its outcome: `finished`")
    total: int
    done: int
    failed: int
    pending: int
    created_at: datetime
    finished_at: datetime | None
    results: list[BulkTicketView]
    next_cursor: str | None
