"""The in-app inbox of buyers and merchants: what the ticket's steps told them (SPEC §7)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from api.auth import Principal, Role
from api.deps import SessionDep, require
from api.problems import Problem
from api.schemas.base import ID_CURSOR
from api.schemas.inbox import InboxItem, InboxPage
from domain.bounds import MAX_ROW_ID
from persistence import notifications as repo
from persistence.models import Notification

router = APIRouter(prefix="/v1/inbox", tags=["inbox"])
ReaderDep = Annotated[Principal, Depends(require(Role.buyer, Role.merchant))]


@router.get("", response_model=InboxPage)
async def list_inbox(
    session: SessionDep,
    principal: ReaderDep,
    unread: Annotated[bool, Query(description="only what is not read yet")] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=ID_CURSOR)] = None,
) -> InboxPage:
    """The caller's notifications, newest first, one page at a time (`next_cursor`)."""
    rows = await repo.inbox(
        session,
        principal.role,
        principal.subject_id,
        limit=limit + 1,
        before=int(cursor) if cursor else None,
        unread_only=unread,
    )
    page = rows[:limit]
    return InboxPage(
        items=[_item(row) for row in page],
        next_cursor=str(page[-1].notification_id) if len(rows) > limit else None,
        unread=await repo.unread_count(session, principal.role, principal.subject_id),
    )


@router.post("/{notification_id}/read", response_model=InboxItem)
async def mark_read(
    notification_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)],
    session: SessionDep,
    principal: ReaderDep,
) -> InboxItem:
    """Mark one notification read; reading it again keeps the first time."""
    row = await repo.mark_read(session, notification_id, principal.role, principal.subject_id)
    if row is None:
        raise Problem(404, "notification_not_found", f"no notification {notification_id}")
    await session.commit()
    return _item(row)


def _item(row: Notification) -> InboxItem:
    return InboxItem(
        notification_id=row.notification_id,
        ticket_no=row.ticket_no,
        order_id=row.order_id,
        event=row.event,
        locale=row.locale,
        subject=row.subject,
        body=row.body,
        created_at=row.created_at,
        read_at=row.read_at,
        read=row.read_at is not None,
    )
