"""A ticket as its caller may see it: state, money, parcels, conversation, timeline, actions."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Principal, Role
from api.presenters import ticket_detail
from api.problems import Problem
from api.schemas.tickets import TicketDetail
from api.scopes import ticket_scope
from domain.actions import allowed_actions
from domain.tickets import Actor, TicketStatus
from persistence import tickets as repo
from persistence.messages import list_messages
from persistence.models import Inspection, Shipment, Ticket
from persistence.tracking import events_of

_SEES_RISK = frozenset({Role.merchant, Role.support})


async def visible_ticket(session: AsyncSession, ticket_no: str, principal: Principal) -> Ticket:
    """A ticket that is not the caller's is simply not found (SPEC §8)."""
    ticket = await repo.find_ticket(session, ticket_no, ticket_scope(principal))
    if ticket is None:
        raise Problem(404, "ticket_not_found", f"no ticket {ticket_no}")
    return ticket


async def load_detail(session: AsyncSession, ticket_no: str, principal: Principal) -> TicketDetail:
    ticket = await visible_ticket(session, ticket_no, principal)
    shipments = await session.execute(
        select(Shipment).where(Shipment.ticket_no == ticket_no).order_by(Shipment.shipped_at)
    )
    return ticket_detail(
        ticket,
        refunds=await repo.refunds(session, ticket_no),
        timeline=await repo.timeline(session, ticket_no),
        shipments=list(shipments.scalars()),
        tracking_events=await events_of(session, ticket_no),
        inspection=await session.get(Inspection, ticket_no),
        messages=await list_messages(session, ticket_no),
        allowed=allowed_actions(TicketStatus(ticket.status), Actor(principal.role)),
        with_risk=principal.role in _SEES_RISK,
    )
