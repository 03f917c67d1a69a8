"""Request and response bodies of a ticket's messages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, HttpUrl, StringConstraints

from api.schemas.base import RequestModel

MessageText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)
]


class MessageCreate(RequestModel):
    body: MessageText
    attachments: list[HttpUrl] = Field(default_factory=list, max_length=10)


class MessageView(BaseModel):
    message_id: int
    ticket_no: str
    author_role: str
    author_id: str | None
    body: str
    attachments: list[str]
    created_at: datetime


class MessagePage(BaseModel):
    items: list[MessageView]
    next_cursor: str | None = None
