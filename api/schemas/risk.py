"""Request and response bodies of the support watchlist, and a ticket's risk as shown."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, StringConstraints

from api.schemas.base import RequestModel

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class WatchlistBody(RequestModel):
    reason: Reason


class WatchlistEntryView(BaseModel):
    buyer_id: str
    reason: str
    added_by: str | None
    added_at: datetime


class WatchlistPage(BaseModel):
    items: list[WatchlistEntryView]
    next_cursor: str | None = None


class RiskView(BaseModel):
    """A ticket's buyer risk, for merchant and support (SPEC §8 ticket detail)."""

    level: Literal["low", "medium", "high"] | None
    reasons: list[str]
    evidence_summary: dict[str, Any] | None = None
