"""Request and response bodies of the warehouse inbound scan."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from api.schemas.base import RequestModel

ScannedCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class ScanOutcome(StrEnum):
    """What the warehouse does with the parcel in its hands."""

    inspect = "inspect"
    already_received = "already_received"
    return_to_sender = "return_to_sender"
    unknown_parcel = "unknown_parcel"


class ScanBody(RequestModel):
    code: ScannedCode = Field(
        description="a return parcel's tracking number or the ticket number on its slip"
    )


class ScanLine(BaseModel):
    line_id: str
    title: str
    sku: str
    quantity: int


class ScanTicket(BaseModel):
    ticket_no: str
    type: str
    status: str
    buyer_id: str
    merchant_id: str
    order_id: str
    tracking_no: str | None = Field(description="the return parcel's tracking number, if known")
    lines: list[ScanLine]


class ScanAnswer(BaseModel):
    outcome: ScanOutcome
    message: str = Field(description="what to do with the parcel, in words")
    checked_in: bool = Field(
        description="this scan checked the parcel in (the ticket moves to awaiting_inspection)"
    )
    ticket: ScanTicket | None
    scan_id: int
    scanned_at: datetime
