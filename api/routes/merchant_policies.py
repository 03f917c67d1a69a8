"""A merchant's policy: the global defaults with its own overrides, versioned (SPEC §3)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from api.auth import Principal, Role
from api.deps import SessionDep, SettingsDep, require
from api.schemas.policies import EffectivePolicy, PolicyUpdate, PolicyView
from api.services.merchants import known_merchant
from api.services.policy import AppliedPolicy, applied_policy, merchant_policy
from persistence.policies import save_overrides

router = APIRouter(prefix="/v1/merchants", tags=["merchant policies"])
MerchantId = Annotated[str, Path(min_length=1, max_length=64)]
PolicyEditor = Annotated[Principal, Depends(require(Role.merchant, Role.support))]


def _view(merchant_id: str, applied: AppliedPolicy) -> PolicyView:
    return PolicyView(
        merchant_id=merchant_id,
        version=applied.version,
        revision=applied.revision,
        effective=EffectivePolicy.model_validate(applied.values.model_dump()),
        overrides=applied.overrides,
        updated_by=applied.updated_by,
        updated_at=applied.updated_at,
    )


@router.get("/{merchant_id}/policy", response_model=PolicyView)
async def read_policy(
    merchant_id: MerchantId, session: SessionDep, settings: SettingsDep, principal: PolicyEditor
) -> PolicyView:
    """The policy new tickets of this merchant are opened under, and its version."""
    await known_merchant(session, merchant_id, principal)
    return _view(merchant_id, await merchant_policy(session, settings, merchant_id))


@router.put("/{merchant_id}/policy", response_model=PolicyView)
async def replace_policy(
    merchant_id: MerchantId,
    body: PolicyUpdate,
    session: SessionDep,
    settings: SettingsDep,
    principal: PolicyEditor,
) -> PolicyView:
    """Replace the merchant's overrides (keys left out follow the global policy) and start a new
    version; tickets already open keep the version they were opened under."""
    await known_merchant(session, merchant_id, principal)
    stored = await save_overrides(
        session, merchant_id, body.model_dump(exclude_none=True), principal.name
    )
    applied = applied_policy(settings, merchant_id, stored)
    await session.commit()
    return _view(merchant_id, applied)
