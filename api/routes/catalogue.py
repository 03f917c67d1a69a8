"""A merchant's catalogue, as the platform reports it: what an exchange may replace goods with."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from api.auth import Principal, Role
from api.deps import SessionDep, require
from api.problems import Problem
from api.schemas.catalogue import CatalogueItemBody, CatalogueItemView
from domain.exchanges import Offer
from domain.money import exponent, format_minor, max_amount
from persistence.catalogue import get_item, save_item
from persistence.models import CatalogueItem

router = APIRouter(prefix="/v1/merchants", tags=["merchant catalogue"])
MerchantId = Annotated[str, Path(min_length=1, max_length=64)]
Sku = Annotated[str, Path(min_length=1, max_length=64)]


def _view(item: CatalogueItem) -> CatalogueItemView:
    return CatalogueItemView(
        merchant_id=item.merchant_id,
        sku=item.sku,
        title=item.title,
        currency=item.currency,
        currency_exponent=exponent(item.currency),
        unit_price=item.unit_price,
        available=item.available,
        updated_at=item.updated_at,
    )


@router.put("/{merchant_id}/catalogue/{sku}", response_model=CatalogueItemView)
async def put_item(
    merchant_id: MerchantId,
    sku: Sku,
    body: CatalogueItemBody,
    session: SessionDep,
    _: Annotated[Principal, Depends(require(Role.platform))],
) -> CatalogueItemView:
    """Insert or replace an item the merchant sells; tickets already opened keep the price they
    were opened with."""
    limit = max_amount(body.currency)
    if body.unit_price > limit:
        raise Problem(
            422,
            "amount_out_of_range",
            f"unit_price exceeds {format_minor(limit, body.currency)}",
            field="unit_price",
        )
    item = await save_item(session, merchant_id, Offer(sku=sku, **body.model_dump()))
    await session.commit()
    return _view(item)


@router.get("/{merchant_id}/catalogue/{sku}", response_model=CatalogueItemView)
async def read_item(
    merchant_id: MerchantId,
    sku: Sku,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(Role.platform, Role.merchant, Role.support))],
) -> CatalogueItemView:
    """An item and its price as an exchange would charge it; a merchant reads only its own."""
    foreign = principal.role is Role.merchant and principal.subject_id != merchant_id
    item = None if foreign else await get_item(session, merchant_id, sku)
    if item is None:
        raise Problem(404, "catalogue_item_not_found", f"merchant {merchant_id} lists no {sku}")
    return _view(item)
