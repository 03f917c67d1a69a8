"""The merchants' catalogue: what an exchange may replace a returned item with, at what price."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.exchanges import Offer
from persistence.models import CatalogueItem


async def save_item(session: AsyncSession, merchant_id: str, offer: Offer) -> CatalogueItem:
    """Insert or replace the item; the caller commits."""
    values = offer.model_dump()
    statement = (
        insert(CatalogueItem)
        .values(merchant_id=merchant_id, **values)
        .on_conflict_do_update(index_elements=["merchant_id", "sku"], set_=values)
        .returning(CatalogueItem)
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(statement)).one()


async def get_item(session: AsyncSession, merchant_id: str, sku: str) -> CatalogueItem | None:
    return await session.get(CatalogueItem, (merchant_id, sku))


async def offers(session: AsyncSession, merchant_id: str, skus: Iterable[str]) -> dict[str, Offer]:
    """The merchant's items among `skus`, by sku; unknown skus are left out."""
    wanted = set(skus)
    if not wanted:
        return {}
    rows = await session.scalars(
        select(CatalogueItem).where(
            CatalogueItem.merchant_id == merchant_id, CatalogueItem.sku.in_(wanted)
        )
    )
    return {row.sku: Offer.model_validate(row, from_attributes=True) for row in rows}
