"""The platform's word that a buyer paid a dearer replacement's difference: checked against the
ticket's terms, then forwarded to its workflow as a Signal."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError

from api import faults
from api.auth import Principal
from api.problems import Problem
from api.schemas.tickets import DifferencePaymentBody
from api.services.ticket_view import visible_ticket
from contracts import DifferencePayment
from domain.exchanges import ExchangeTerms
from domain.money import format_minor
from domain.tickets import TERMINAL_STATUSES, TicketStatus
from workflows.ticket import TicketWorkflow

log = logging.getLogger("aftersales.exchanges")


async def forward_difference_payment(
    session: AsyncSession,
    temporal: Client,
    principal: Principal,
    ticket_no: str,
    body: DifferencePaymentBody,
) -> None:
    """The payment reaches the workflow, which applies the first one of the amount due (an early
    one when the ticket gets there); sending it again changes nothing."""
    ticket = await visible_ticket(session, ticket_no, principal)
    terms = None if ticket.exchange is None else ExchangeTerms.model_validate(ticket.exchange)
    if terms is None or terms.due == 0:
        raise Problem(
            409, "no_difference_due", f"ticket {ticket_no} owes no price difference for its items"
        )
    status = TicketStatus(ticket.status)
    if status in TERMINAL_STATUSES:
        raise Problem(
            409,
            "illegal_transition",
            f"the ticket is {status}: a payment of its difference changes nothing any more",
        )
    if body.currency != terms.currency or body.amount != terms.due:
        raise Problem(
            422,
            "difference_amount_mismatch",
            f"the difference due is {format_minor(terms.due, terms.currency)}, not "
            f"{format_minor(body.amount, body.currency)}",
            field="amount",
        )
    payment = DifferencePayment(
        reference=body.reference,
        amount=body.amount,
        currency=body.currency,
        paid_at=body.paid_at or datetime.now(UTC),
    )
    try:
        await faults.signal(temporal, ticket_no, TicketWorkflow.difference_paid, payment)
    except RPCError as error:
        log.warning("difference payment %s for %s not sent: %s", body.reference, ticket_no, error)
        raise faults.unavailable("temporal_unavailable", error.message) from error
