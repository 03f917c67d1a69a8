"""Response bodies of the in-app inbox."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from domain.events import TicketEvent


class InboxItem(BaseModel):
    notification_id: int
    ticket_no: str | None
    order_id: str | None
    event: TicketEvent
    locale: str
    subject: str
    body: str
    created_at: datetime
    read_at: datetime | None
    read: bool


class InboxPage(BaseModel):
    items: list[InboxItem]
    next_cursor: str | None = None
    unread: int
