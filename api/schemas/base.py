"""What every request body shares: unknown fields refused, and only text the database can store."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)

from domain.bounds import MAX_LINE_QUANTITY, MAX_VERSION
from domain.money import MAX_ANY_AMOUNT
from domain.text import refuse_unstorable


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        return refuse_unstorable(value)


# Integers as the schema says: `true`, `5.0` and `"5"` are refused, not read as numbers.
Amount = Annotated[
    int, Field(strict=True, ge=0, le=MAX_ANY_AMOUNT, description="minor units of the currency")
]
"""An amount without its currency at hand; the currency's own bound is checked where it is known."""
PositiveAmount = Annotated[
    int, Field(strict=True, ge=1, le=MAX_ANY_AMOUNT, description="minor units")
]
Quantity = Annotated[int, Field(strict=True, ge=1, le=MAX_LINE_QUANTITY)]
Count = Annotated[int, Field(strict=True, ge=0, le=MAX_LINE_QUANTITY)]
Version = Annotated[int, Field(strict=True, ge=0, le=MAX_VERSION)]
# A cursor naming a row id: digits that fit a BIGINT.
ID_CURSOR = r"^[0-9]{1,18}$"

_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")


def _date_time_text(value: Any) -> Any:
    """A date-time as the schema says, ISO 8601 text: not a number of seconds, not a bare date."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DATE_TIME.match(value):
        raise ValueError("an ISO 8601 date-time is expected, e.g. 2026-11-23T08:00:00Z")
    return value


def _within_years(value: datetime) -> datetime:
    if not 1970 <= value.year <= 9998:
        raise ValueError("the time must be between the years 1970 and 9998")
    return value


DateTime = Annotated[datetime, BeforeValidator(_date_time_text), AfterValidator(_within_years)]
"""A moment sent by a caller: ISO 8601 text, in years every part of the engine computes with."""
AwareDateTime = Annotated[
    AwareDatetime, BeforeValidator(_date_time_text), AfterValidator(_within_years)
]
