"""A ticket's conversation: stored here by the API, never in the workflow's history (SPEC §8)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.models import TicketMessage


async def list_messages(
    session: AsyncSession, ticket_no: str, *, limit: int | None = None, after: int | None = None
) -> list[TicketMessage]:
    """Oldest first; `after` is the id of the last message already seen."""
    query = (
        select(TicketMessage)
        .where(TicketMessage.ticket_no == ticket_no)
        .order_by(TicketMessage.message_id)
    )
    if after is not None:
        query = query.where(TicketMessage.message_id > after)
    if limit is not None:
        query = query.limit(limit)
    return list((await session.execute(query)).scalars())


async def get_message(
    session: AsyncSession, ticket_no: str, message_id: int
) -> TicketMessage | None:
    message = await session.get(TicketMessage, message_id)
    return message if message is not None and message.ticket_no == ticket_no else None


async def add_message(
    session: AsyncSession,
    ticket_no: str,
    author_role: str,
    author_id: str | None,
    body: str,
    attachments: list[str],
) -> TicketMessage:
    message = TicketMessage(
        ticket_no=ticket_no,
        author_role=author_role,
        author_id=author_id,
        body=body,
        attachments=attachments,
    )
    session.add(message)
    await session.flush()
    # created_at is the database's clock; read it back so the answer can show it.
    await session.refresh(message, ["created_at"])
    return message
