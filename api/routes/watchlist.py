"""The support watchlist: buyers whose tickets are never approved automatically (SPEC §5)."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from api.auth import Principal, Role
from api.deps import SessionDep, require
from api.problems import Problem
from api.schemas.risk import WatchlistBody, WatchlistEntryView, WatchlistPage
from domain.text import unstorable_reason
from persistence import risk as repo
from persistence.models import WatchlistEntry

router = APIRouter(prefix="/v1/watchlist", tags=["watchlist"])
SupportDep = Annotated[Principal, Depends(require(Role.support))]
BuyerId = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("", response_model=WatchlistPage)
async def list_watchlist(
    session: SessionDep,
    _: SupportDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> WatchlistPage:
    """Watched buyers by buyer id, one page at a time (`next_cursor` until exhausted)."""
    rows = await repo.watchlist(
        session, limit=limit + 1, after=_decode_cursor(cursor) if cursor else None
    )
    page = rows[:limit]
    more = len(rows) > limit
    return WatchlistPage(
        items=[_view(entry) for entry in page],
        next_cursor=_encode_cursor(page[-1].buyer_id) if more else None,
    )


@router.put("/{buyer_id}", response_model=WatchlistEntryView)
async def put_on_watchlist(
    buyer_id: BuyerId, body: WatchlistBody, session: SessionDep, principal: SupportDep
) -> WatchlistEntryView:
    """Add a buyer to the watchlist, or replace the reason if already there."""
    entry = await repo.put_on_watchlist(session, buyer_id, body.reason, principal.subject_id)
    await session.commit()
    return _view(entry)


@router.delete("/{buyer_id}", status_code=204, response_class=Response)
async def remove_from_watchlist(buyer_id: BuyerId, session: SessionDep, _: SupportDep) -> None:
    if not await repo.remove_from_watchlist(session, buyer_id):
        raise Problem(404, "not_on_watchlist", f"buyer {buyer_id} is not on the watchlist")
    await session.commit()


def _view(entry: WatchlistEntry) -> WatchlistEntryView:
    return WatchlistEntryView(
        buyer_id=entry.buyer_id,
        reason=entry.reason,
        added_by=entry.added_by,
        added_at=entry.added_at,
    )


def _encode_cursor(buyer_id: str) -> str:
    return base64.urlsafe_b64encode(buyer_id.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        buyer_id = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except ValueError:
        buyer_id = ""
    if not buyer_id or unstorable_reason(buyer_id) is not None:
        raise Problem(
            422, "invalid_cursor", "the cursor is not one this API gave out", field="cursor"
        )
    return buyer_id
