"""A ticket as its caller may see it: state, money, parcels, conversation, timeline, actions."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Principal
from api.presenters import ticket_detail
from api.problems import Problem
from api.schemas.tickets import TicketDetail
from api.scopes import ticket_scope
from api.visibility import TicketPart, ticket_parts
from domain.actions import allowed_actions
from domain.tickets import Actor, TicketStatus
from persistence import tickets as repo
from persistence.labels import label_of
from persistence.messages import list_messages
from persistence.models import Inspection, ReturnLabel, Shipment, Ticket, TrackingEvent
from persistence.tracking import events_of


async def visible_ticket(session: AsyncSession, ticket_no: str, principal: Principal) -> Ticket:
    """A ticket that is not the caller's is simply not found (SPEC §8)."""
    ticket = await repo.find_ticket(session, ticket_no, ticket_scope(principal))
    if ticket is None:
        raise Problem(404, "ticket_not_found", f"no ticket {ticket_no}")
    return ticket


def opened_detail(ticket: Ticket, principal: Principal) -> TicketDetail:
    """A ticket just opened, from the row this request wrote: nothing has happened to it yet
    (no refund, parcel, message or timeline entry), so nothing is read back."""
    return ticket_detail(
        ticket,
        principal.role,
        refunds=[],
        timeline=[],
        shipments=[],
        return_label=None,
        tracking_events=[],
        inspection=None,
        messages=[],
        allowed=allowed_actions(TicketStatus(ticket.status), Actor(principal.role)),
    )


async def load_detail(session: AsyncSession, ticket_no: str, principal: Principal) -> TicketDetail:
    """Only the parts the caller's role sees are read (api.visibility)."""
    ticket = await visible_ticket(session, ticket_no, principal)
    role = principal.role
    seen = ticket_parts(role)
    parcels: list[Shipment] = []
    tracking: list[TrackingEvent] = []
    label: ReturnLabel | None = None
    if TicketPart.shipments in seen:
        rows = await session.execute(
            select(Shipment).where(Shipment.ticket_no == ticket_no).order_by(Shipment.shipped_at)
        )
        parcels, tracking = list(rows.scalars()), await events_of(session, ticket_no)
        label = await label_of(session, ticket_no)
    return ticket_detail(
        ticket,
        role,
        refunds=await repo.refunds(session, ticket_no) if TicketPart.refunds in seen else [],
        timeline=await repo.timeline(session, ticket_no) if TicketPart.timeline in seen else [],
        shipments=parcels,
        return_label=label,
        tracking_events=tracking,
        inspection=await session.get(Inspection, ticket_no)
        if TicketPart.inspection in seen
        else None,
        messages=await list_messages(session, ticket_no) if TicketPart.messages in seen else [],
        allowed=allowed_actions(TicketStatus(ticket.status), Actor(role)),
    )
