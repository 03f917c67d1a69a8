"""Request and response bodies of the ticket endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, HttpUrl

from api.schemas.messages import MessageView
from api.schemas.risk import RiskView
from domain.reasons import ReasonCode
from domain.tickets import Destination, TicketType


class TicketLineBody(BaseModel):
    line_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0)


class TicketCreate(BaseModel):
    order_id: str = Field(min_length=1, max_length=64)
    type: TicketType
    lines: list[TicketLineBody] = Field(min_length=1, max_length=100)
    reason_code: ReasonCode
    description: str = Field("", max_length=2000)
    evidence: list[HttpUrl] = Field(default_factory=list, max_length=20)
    requested_amount: int | None = Field(None, ge=0, description="minor units")
    destination: Destination = Destination.original


class TicketSummary(BaseModel):
    ticket_no: str
    order_id: str
    buyer_id: str
    merchant_id: str
    type: str
    status: str
    reason_code: str
    currency: str
    quoted_amount: int
    granted_amount: int | None
    refunded_amount: int
    next_actor: str | None
    deadline_at: datetime | None
    on_timeout: str | None
    escalated: bool
    warehouse_id: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class TimelineView(BaseModel):
    seq: int
    at: datetime
    actor_role: str
    actor_id: str | None
    event: str
    from_status: str | None
    to_status: str
    reason: str
    deadline_at: datetime | None
    data: dict[str, Any]


class RefundView(BaseModel):
    seq: int
    amount: int
    currency: str
    destination: str
    provider: str | None
    provider_refund_id: str | None
    idempotency_key: str
    status: str
    failure_reason: str | None
    status_history: list[dict[str, Any]]


class ShipmentView(BaseModel):
    direction: str
    carrier: str
    tracking_no: str
    shipped_at: datetime
    delivered_at: datetime | None
    status: str


class TrackingEventView(BaseModel):
    carrier: str
    tracking_no: str
    status: str
    description: str
    location: str | None
    occurred_at: datetime
    source: str


class InspectionView(BaseModel):
    warehouse_id: str | None
    inspector_id: str | None
    lines: list[dict[str, Any]]
    notes: str
    photos: list[str]
    passed: bool
    at: datetime


class TicketDetail(TicketSummary):
    description: str
    evidence: list[str]
    destination: str
    requested_amount: int | None
    lines: list[TicketLineBody]
    breakdown: dict[str, Any] | None
    policy: dict[str, Any]
    service_fee: int
    refunds: list[RefundView]
    shipments: list[ShipmentView]
    tracking_events: list[TrackingEventView]
    inspection: InspectionView | None
    messages: list[MessageView]
    timeline: list[TimelineView]
    risk: RiskView | None = Field(description="shown to the merchant and support only")
    allowed_actions: list[str] = Field(
        description="actions the caller can take now, named as in `POST /v1/tickets/{id}/<action>`"
    )


class TicketPage(BaseModel):
    items: list[TicketSummary]
    next_cursor: str | None


class SecondApprovalBody(BaseModel):
    decision: Literal["approve", "decline"]
    note: str = Field("", max_length=1000)
    expected_version: int | None = Field(None, ge=0)
