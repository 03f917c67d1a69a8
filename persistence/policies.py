"""Merchants' stored policy overrides: one row per merchant, a new version on every change.

The overrides are values of `domain.policy.Policy` fields, stored as that model encodes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.policy import Policy
from persistence.models import Merchant, MerchantPolicy


async def merchant_exists(session: AsyncSession, merchant_id: str) -> bool:
    found = await session.scalar(
        select(Merchant.merchant_id).where(Merchant.merchant_id == merchant_id)
    )
    return found is not None


async def get_policy(session: AsyncSession, merchant_id: str) -> MerchantPolicy | None:
    return await session.get(MerchantPolicy, merchant_id)


def stored_overrides(stored: MerchantPolicy) -> dict[str, Any]:
    """The stored overrides of fields the policy still has (JSON, as stored)."""
    return {name: value for name, value in stored.overrides.items() if name in Policy.model_fields}


def _encoded(overrides: Mapping[str, Any]) -> dict[str, Any]:
    return Policy.model_validate(overrides).model_dump(mode="json", include=set(overrides))


async def save_overrides(
    session: AsyncSession, merchant_id: str, overrides: Mapping[str, Any], updated_by: str | None
) -> MerchantPolicy:
    """Replace the merchant's overrides (policy field -> value); concurrent writers each get their
    own version."""
    new = insert(MerchantPolicy).values(
        merchant_id=merchant_id, version=1, overrides=_encoded(overrides), updated_by=updated_by
    )
    statement = new.on_conflict_do_update(
        index_elements=[MerchantPolicy.merchant_id],
        set_={
            "version": MerchantPolicy.version + 1,
            "overrides": new.excluded.overrides,
            "updated_by": new.excluded.updated_by,
            "updated_at": func.now(),
        },
    ).returning(MerchantPolicy)
    result = await session.execute(statement, execution_options={"populate_existing": True})
    return result.scalar_one()
