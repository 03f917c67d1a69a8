"""Merchants' stored policy overrides: one row per merchant, a new version on every change."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.models import Merchant, MerchantPolicy


async def merchant_exists(session: AsyncSession, merchant_id: str) -> bool:
    found = await session.scalar(
        select(Merchant.merchant_id).where(Merchant.merchant_id == merchant_id)
    )
    return found is not None


async def get_policy(session: AsyncSession, merchant_id: str) -> MerchantPolicy | None:
    return await session.get(MerchantPolicy, merchant_id)


async def save_overrides(
    session: AsyncSession, merchant_id: str, overrides: dict[str, Any], updated_by: str | None
) -> MerchantPolicy:
    """Replace the merchant's overrides; concurrent writers each get their own version."""
    new = insert(MerchantPolicy).values(
        merchant_id=merchant_id, version=1, overrides=overrides, updated_by=updated_by
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
