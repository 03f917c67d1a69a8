"""Request and response bodies of the merchant policy endpoints, one field per policy field."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, get_origin

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from domain.policy import MAX_POLICY_DURATION, Policy
from settings import Duration

# ISO 8601 (`PT48H`, `P7D`) or seconds, within the policy's own bounds.
AcceptedDuration = Annotated[Duration, Field(gt=timedelta(0), le=MAX_POLICY_DURATION)]

# What the published schema says of a field besides its name.
_UPDATE_NOTES = {
    "review_reminders": "before the merchant review deadline",
    "second_approval_threshold": "minor units of the order's currency, for all currencies",
}
_EFFECTIVE_NOTES = {"second_approval_threshold": "null: the global per-currency thresholds apply"}


def _accepted(field: FieldInfo) -> Any:
    """What a merchant may send for a field: durations as settings take them, and the policy's
    own limits."""
    if field.annotation is timedelta:
        return AcceptedDuration
    if get_origin(field.annotation) is list:
        return Annotated[list[AcceptedDuration], *field.metadata]
    if field.annotation in (int, int | None, bool):
        # As the schema says: no `true` for a number, no `1` or `"yes"` for a flag.
        return Annotated[(field.annotation, Field(strict=True), *field.metadata)]
    if field.metadata:
        return Annotated[(field.annotation, *field.metadata)]
    return field.annotation


def _update_model() -> type[BaseModel]:
    fields: dict[str, Any] = {
        name: (_accepted(field) | None, Field(None, description=_UPDATE_NOTES.get(name)))
        for name, field in Policy.model_fields.items()
    }
    return create_model(
        "PolicyUpdate",
        __config__=ConfigDict(extra="forbid"),
        __doc__="The merchant's overrides; keys left out (or null) follow the global policy.",
        **fields,
    )


def _effective_model() -> type[BaseModel]:
    fields: dict[str, Any] = {
        name: (field.annotation, Field(description=_EFFECTIVE_NOTES.get(name)))
        for name, field in Policy.model_fields.items()
    }
    return create_model("EffectivePolicy", **fields)


if TYPE_CHECKING:
    # Built from the policy's fields at import; to a type checker, plain models.
    PolicyUpdate = BaseModel
    EffectivePolicy = BaseModel
else:
    PolicyUpdate = _update_model()
    EffectivePolicy = _effective_model()


class PolicyView(BaseModel):
    merchant_id: str
    version: str = Field(
        description="what new tickets record: `global-<hash>` or `<merchant>-v<n>`"
    )
    revision: int = Field(description="changes stored for this merchant so far")
    effective: EffectivePolicy
    overrides: dict[str, Any]
    updated_by: str | None
    updated_at: datetime | None
