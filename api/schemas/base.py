"""What every request body shares: unknown fields refused, and only text the database can store."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.bounds import MAX_LINE_QUANTITY, MAX_ROW_ID, MAX_VERSION
from domain.money import MAX_ANY_AMOUNT
from domain.text import refuse_unstorable


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        return refuse_unstorable(value)


Amount = Annotated[int, Field(ge=0, le=MAX_ANY_AMOUNT, description="minor units of the currency")]
"""An amount without its currency at hand; the currency's own bound is checked where it is known."""
PositiveAmount = Annotated[int, Field(ge=1, le=MAX_ANY_AMOUNT, description="minor units")]
Quantity = Annotated[int, Field(ge=1, le=MAX_LINE_QUANTITY)]
Version = Annotated[int, Field(ge=0, le=MAX_VERSION)]
RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]
# A cursor naming a row id: digits that fit a BIGINT.
ID_CURSOR = r"^[0-9]{1,18}$"
