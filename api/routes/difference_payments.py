"""A dearer replacement's price difference, paid by the buyer through the platform."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from api.auth import Principal, Role
from api.deps import SessionDep, TemporalDep, require
from api.schemas.tickets import DifferencePaymentBody, TicketDetail
from api.services.difference_payments import forward_difference_payment
from api.services.ticket_view import load_detail

router = APIRouter(prefix="/v1/tickets", tags=["exchanges"])
TicketNo = Annotated[str, Path(min_length=1, max_length=32)]


@router.post(
    "/{ticket_no}/difference-payment",
    response_model=TicketDetail,
    status_code=202,
    responses={
        404: {"description": "no such ticket"},
        409: {"description": "the ticket owes no difference, or has ended"},
        422: {"description": "not the amount or currency due"},
    },
)
async def difference_payment(
    ticket_no: TicketNo,
    body: DifferencePaymentBody,
    session: SessionDep,
    temporal: TemporalDep,
    principal: Annotated[Principal, Depends(require(Role.platform))],
) -> TicketDetail:
    """The buyer paid the difference (`exchange.due`) of a dearer replacement: accepted (202),
    and applied by the ticket when its goods are accepted, or at once if they are; then the
    merchant ships the replacement (`difference_paid` in the timeline). Sending the same
    payment again changes nothing."""
    await forward_difference_payment(session, temporal, principal, ticket_no, body)
    return await load_detail(session, ticket_no, principal)
