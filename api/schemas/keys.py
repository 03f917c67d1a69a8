"""Request and response bodies of support's key API. A plain key appears only in the answer that
issued it (`IssuedKeyView`), never in a listing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from api.auth import Role
from api.schemas.base import AwareDateTime, RequestModel
from api.services.keys import MAX_OVERLAP, KeyStatus
from settings import Duration


def _bounded(value: datetime) -> datetime:
    """In UTC, and within years PostgreSQL and Python agree on."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range") from None
    if not 2000 <= utc.year <= 9998:
        raise ValueError("the time must be between the years 2000 and 9998")
    return utc


KeyTime = Annotated[AwareDateTime, AfterValidator(_bounded)]
SubjectId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class IssueKeyBody(RequestModel):
    role: Role
    subject_id: SubjectId | None = Field(
        None, description="the buyer, merchant or warehouse the key acts for (required for those)"
    )
    label: Label = Field(description="who holds the key, for people reading the list")
    expires_at: KeyTime | None = Field(None, description="none: works until revoked")


class RotateKeyBody(RequestModel):
    overlap: Annotated[Duration, Field(ge=timedelta(0), le=MAX_OVERLAP)] | None = Field(
        None,
        description="how long the old key keeps working (ISO 8601 or seconds); "
        "AUTH_KEY_ROTATION_OVERLAP by default",
    )
    expires_at: KeyTime | None = Field(None, description="when the new key stops working")


class ExpireKeyBody(RequestModel):
    at: KeyTime = Field(description="when the key stops working; a past time ends it at once")


class KeyView(BaseModel):
    key_id: int
    prefix: str = Field(description="the key's first characters, to tell keys apart")
    role: Role
    subject_id: str | None
    label: str
    status: KeyStatus
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(description="to the minute")
    rotated_from: int | None = Field(description="the key this one replaced")


class IssuedKeyView(KeyView):
    api_key: str = Field(description="the plain key: shown once, store it now")


class RotatedKeyView(IssuedKeyView):
    previous: KeyView = Field(description="the rotated key, working until its expires_at")


class KeyPage(BaseModel):
    items: list[KeyView]
    next_cursor: str | None = None
