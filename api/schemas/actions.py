"""Bodies of the actor actions: `POST /v1/tickets/{id}/<action>`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, HttpUrl

from api.schemas.base import Amount, Count, PositiveAmount, RequestModel, Version
from api.schemas.tickets import DestinationChoice

Carrier = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")
TrackingNo = Field(min_length=4, max_length=64, pattern=r"^[A-Za-z0-9-]+$")


class ActionBody(RequestModel):
    note: str = Field("", max_length=1000)
    expected_version: Version | None = Field(
        None, description="the ticket's version you acted on; 409 if it moved on"
    )


class ApproveBody(ActionBody):
    service_fee: Amount = Field(
        0, description="minor units; only on buyer-fault reasons, at most the refund"
    )
    warehouse_id: str | None = Field(
        None, max_length=64, description="where the goods go back; the shop's first by default"
    )


class RejectBody(ActionBody):
    reason_code: str = Field(min_length=1, max_length=64)


class ShippingBody(ActionBody):
    carrier: str = Carrier
    tracking_no: str = TrackingNo


class CancelBody(ActionBody):
    pass


class EvidenceBody(ActionBody):
    photos: list[HttpUrl] = Field(
        min_length=1, max_length=20, description="evidence photo URLs, added to the ticket's"
    )


class EscalateBody(ActionBody):
    reason: str = Field(min_length=1, max_length=1000)


class InspectedLineBody(RequestModel):
    line_id: str = Field(min_length=1, max_length=64)
    accepted: Count
    rejected: Count


class InspectionBody(ActionBody):
    lines: list[InspectedLineBody] = Field(min_length=1, max_length=100)
    photos: list[HttpUrl] = Field(default_factory=list, max_length=20)


class ResolveInspectionBody(ActionBody):
    decision: Literal["partial_refund", "return_to_buyer"]
    amount: PositiveAmount | None = Field(None, description="minor units, for a partial refund")


class ConfirmReceiptBody(ActionBody):
    pass


class ArbitrateBody(ActionBody):
    decision: Literal["refund", "partial_refund", "reject", "return_to_buyer"]
    amount: PositiveAmount | None = Field(None, description="minor units, for a partial refund")


class RetryRefundBody(ActionBody, DestinationChoice):
    """`destination` omitted: the new attempt goes where the failed one went."""
