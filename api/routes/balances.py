"""Where refunds to store credit show up: `GET /v1/buyers/{buyer_id}/credit`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from api.auth import Principal, Role
from api.deps import SessionDep, require
from api.problems import Problem
from api.schemas.balances import BalanceEntryView, BuyerCredit, CouponView
from persistence import ledger

router = APIRouter(prefix="/v1/buyers", tags=["balances"])
ReaderDep = Annotated[Principal, Depends(require(Role.buyer, Role.support))]
BuyerId = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/{buyer_id}/credit", response_model=BuyerCredit)
async def buyer_credit(buyer_id: BuyerId, session: SessionDep, principal: ReaderDep) -> BuyerCredit:
    """The buyer's balance per currency with its ledger entries, and compensation coupons.
    A buyer sees only their own (another buyer's is 404)."""
    if principal.role is Role.buyer and principal.subject_id != buyer_id:
        raise Problem(404, "buyer_not_found", f"no buyer {buyer_id}")
    return BuyerCredit(
        buyer_id=buyer_id,
        balances=await ledger.balances(session, buyer_id),
        entries=[
            BalanceEntryView.model_validate(entry, from_attributes=True)
            for entry in await ledger.entries(session, buyer_id)
        ],
        coupons=[
            CouponView.model_validate(coupon, from_attributes=True)
            for coupon in await ledger.coupons(session, buyer_id)
        ],
    )
