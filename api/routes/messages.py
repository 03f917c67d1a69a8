"""Messages on a ticket between buyer, merchant and support: stored by the API, never sent to
the workflow, so a long conversation never grows a workflow's history (SPEC §8)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlalchemy.exc import IntegrityError

from api import idempotency
from api.auth import Principal
from api.deps import IdempotencyKeyDep, SessionDep, require_action
from api.problems import Problem
from api.schemas.base import ID_CURSOR
from api.schemas.messages import MessageCreate, MessagePage, MessageView
from api.scopes import ticket_scope
from domain.actions import Action, may_now
from domain.tickets import Actor, TicketStatus
from persistence import messages as repo
from persistence.models import Ticket, TicketMessage
from persistence.tickets import find_ticket

router = APIRouter(prefix="/v1/tickets", tags=["messages"])
TicketNo = Annotated[str, Path(min_length=1, max_length=32)]
MessagingDep = Annotated[Principal, Depends(require_action(Action.messages))]


@router.post(f"/{{ticket_no}}/{Action.messages}", response_model=MessageView, status_code=201)
async def post_message(
    ticket_no: TicketNo,
    body: MessageCreate,
    session: SessionDep,
    principal: MessagingDep,
    response: Response,
    idempotency_key: IdempotencyKeyDep = None,
) -> MessageView:
    """Write on the ticket; the same `Idempotency-Key` and body give the same message (marked
    `Idempotent-Replayed: true`), never a second one."""
    ticket = await _visible_ticket(session, ticket_no, principal)
    scope = f"POST /v1/tickets/{ticket_no}/messages"
    digest = idempotency.request_hash(scope, body.model_dump(mode="json"))
    earlier = await idempotency.replayed(session, principal, idempotency_key, scope, digest)
    if earlier is not None and earlier.resource_id:
        message = await repo.get_message(session, ticket_no, int(earlier.resource_id))
        if message is not None:
            response.headers["Idempotent-Replayed"] = "true"
            return _view(message)
    actor, status = Actor(principal.role), TicketStatus(ticket.status)
    if not may_now(actor, Action.messages, status):
        raise Problem(
            409,
            "illegal_transition",
            f"the ticket is {status}: a {actor} can no longer post messages on it",
        )
    message = await repo.add_message(
        session,
        ticket_no,
        principal.role,
        principal.subject_id,
        body.body,
        [str(url) for url in body.attachments],
    )
    idempotency.remember(
        session, principal, idempotency_key, scope, digest, str(message.message_id), 201
    )
    try:
        await session.commit()
    except IntegrityError as error:
        raise Problem(
            409, "concurrent_request", "the same request is being handled; retry shortly"
        ) from error
    return _view(message)


@router.get(f"/{{ticket_no}}/{Action.messages}", response_model=MessagePage)
async def list_messages(
    ticket_no: TicketNo,
    session: SessionDep,
    principal: MessagingDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
    cursor: Annotated[str | None, Query(pattern=ID_CURSOR)] = None,
) -> MessagePage:
    """The conversation, oldest first, one page at a time (`next_cursor` until exhausted)."""
    await _visible_ticket(session, ticket_no, principal)
    rows = await repo.list_messages(
        session, ticket_no, limit=limit + 1, after=int(cursor) if cursor else None
    )
    page = rows[:limit]
    more = len(rows) > limit
    return MessagePage(
        items=[_view(m) for m in page],
        next_cursor=str(page[-1].message_id) if more else None,
    )


async def _visible_ticket(session: SessionDep, ticket_no: str, principal: Principal) -> Ticket:
    ticket = await find_ticket(session, ticket_no, ticket_scope(principal))
    if ticket is None:
        raise Problem(404, "ticket_not_found", f"no ticket {ticket_no}")
    return ticket


def _view(message: TicketMessage) -> MessageView:
    return MessageView(
        message_id=message.message_id,
        ticket_no=message.ticket_no,
        author_role=message.author_role,
        author_id=message.author_id,
        body=message.body,
        attachments=[str(url) for url in message.attachments],
        created_at=message.created_at,
    )
