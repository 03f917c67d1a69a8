"""A ticket's return label as the buyer prints it: the courier's label with the ticket number,
both addresses and the goods that go in the parcel."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Principal
from api.label_pdf import LabelDocument, LabelItem, LabelParty, render_return_label
from api.problems import Problem
from api.services.ticket_view import visible_ticket
from persistence.labels import label_of
from persistence.orders import get_order


async def return_label_pdf(session: AsyncSession, ticket_no: str, principal: Principal) -> bytes:
    """404 for a ticket not the caller's, and for one with no label (not approved for a return
    yet, refund only, or the courier issued none)."""
    ticket = await visible_ticket(session, ticket_no, principal)
    label = await label_of(session, ticket_no)
    if label is None:
        raise Problem(
            404,
            "return_label_not_found",
            f"ticket {ticket_no} has no return label: one is issued when a return or exchange "
            "is approved, unless the courier could not issue it",
        )
    order = await get_order(session, ticket.order_id)
    titles = {line.line_id: (line.sku, line.title) for line in order.lines} if order else {}
    items = tuple(
        LabelItem(sku=sku, title=title, quantity=line.quantity)
        for line in ticket.lines
        for sku, title in [titles.get(line.line_id, (line.line_id, ""))]
    )
    return render_return_label(
        LabelDocument(
            ticket_no=ticket_no,
            carrier=label.carrier,
            tracking_no=label.tracking_no,
            dropoff_code=label.dropoff_code,
            sender=LabelParty(name=label.sender_name, address=label.sender_address),
            recipient=LabelParty(name=label.recipient_name, address=label.recipient_address),
            issued_at=label.issued_at,
            items=items,
        )
    )
