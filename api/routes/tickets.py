"""Opening tickets and reading them."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from api.auth import Principal, Role
from api.deps import (
    IdempotencyKeyDep,
    PrincipalDep,
    SessionDep,
    SettingsDep,
    TemporalDep,
    require,
)
from api.presenters import ticket_summary
from api.problems import Problem
from api.schemas.base import DateTime
from api.schemas.tickets import TicketCreate, TicketDetail, TicketPage
from api.scopes import ticket_scope
from api.services.ticket_opening import open_ticket
from api.services.ticket_view import load_detail, opened_detail
from domain.text import refuse_unstorable
from domain.tickets import TicketStatus, TicketType
from persistence import tickets as repo

router = APIRouter(prefix="/v1/tickets", tags=["tickets"])
TicketNo = Annotated[str, Path(min_length=1, max_length=32)]


@router.post("", response_model=TicketDetail, status_code=201)
async def create_ticket(
    body: TicketCreate,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    response: Response,
    principal: Annotated[Principal, Depends(require(Role.buyer, Role.support))],
    idempotency_key: IdempotencyKeyDep = None,
) -> TicketDetail:
    """Open a ticket and start its workflow; the same `Idempotency-Key` and body give the same
    ticket (marked `Idempotent-Replayed: true`), never a second one.

    The answer is the ticket as opened (`submitted`, version 0); its workflow's first steps
    follow at once, and `GET /v1/tickets/{ticket_no}` shows them. A replay answers with the
    ticket as it is now."""
    ticket_no, created = await open_ticket(
        session, temporal, settings, principal, body, idempotency_key
    )
    if created is not None:
        return opened_detail(created, principal)
    # A replay answers as the first call did, and says that it is one.
    response.headers["Idempotent-Replayed"] = "true"
    return await load_detail(session, ticket_no, principal)


@router.get("", response_model=TicketPage)
async def list_tickets(
    session: SessionDep,
    principal: PrincipalDep,
    type: TicketType | None = None,
    status: TicketStatus | None = None,
    is_open: Annotated[
        bool | None,
        Query(
            alias="open",
            description="true: tickets still going; false: completed, cancelled or closed",
        ),
    ] = None,
    order_id: Annotated[str | None, Query(max_length=64)] = None,
    ticket_no: Annotated[str | None, Query(max_length=32)] = None,
    created_from: DateTime | None = None,
    created_to: DateTime | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> TicketPage:
    """The caller's tickets, newest first, one page at a time (`next_cursor` until exhausted)."""
    rows = await repo.list_tickets(
        session,
        ticket_scope(principal),
        repo.TicketFilter(
            type=type,
            status=status,
            is_open=is_open,
            order_id=order_id,
            ticket_no=ticket_no,
            created_from=created_from,
            created_to=created_to,
        ),
        limit=limit + 1,
        after=_decode_cursor(cursor) if cursor else None,
    )
    page = rows[:limit]
    more = len(rows) > limit
    return TicketPage(
        items=[ticket_summary(t, principal.role) for t in page],
        next_cursor=_encode_cursor(page[-1].created_at, page[-1].ticket_no) if more else None,
    )


@router.get("/{ticket_no}", response_model=TicketDetail)
async def get_ticket(
    ticket_no: TicketNo, session: SessionDep, principal: PrincipalDep
) -> TicketDetail:
    return await load_detail(session, ticket_no, principal)


def _encode_cursor(created_at: datetime, ticket_no: str) -> str:
    raw = json.dumps([created_at.isoformat(), ticket_no]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, ticket_no = json.loads(raw)
        refuse_unstorable(ticket_no)
        return datetime.fromisoformat(created_at), str(ticket_no)
    except (ValueError, TypeError) as error:
        raise Problem(
            422, "invalid_cursor", "the cursor is not one this API gave out", field="cursor"
        ) from error
