"""Opening a ticket: check the application, record it, start its workflow — all or nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api import idempotency
from api.auth import Principal, Role
from api.problems import Problem
from api.schemas.tickets import TicketCreate
from api.services.destinations import check_balance_currency
from api.services.policy import merchant_policy, refund_policy, ticket_policy
from api.services.ticket_workflows import start_ticket_workflow
from contracts import TicketInput
from domain.eligibility import (
    EligibilityError,
    check_application_limit,
    check_lines,
    check_order,
    check_window,
)
from domain.orders import OrderStatus
from domain.refund_terms import RefundRequest, RefundRuleError, RequestedLine
from domain.refunds import quote_refund
from domain.tickets import Actor, Destination, TicketStatus
from persistence.applications import applications_per_line
from persistence.models import Ticket, TicketLine
from persistence.orders import get_order, prior_refunds, to_snapshot
from persistence.tickets import lines_with_open_tickets, next_ticket_no
from settings import Settings

_SCOPE = "POST /v1/tickets"


def _refused(error: EligibilityError | RefundRuleError) -> Problem:
    return Problem(422, error.code, error.message, field=error.field)


async def open_ticket(
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    principal: Principal,
    body: TicketCreate,
    idempotency_key: str | None,
) -> tuple[str, bool]:
    """Returns the ticket number and whether this call created it.

    The caller's session is left uncommitted on refusal, so closing it rolls everything back.
    """
    digest = idempotency.request_hash(_SCOPE, body.model_dump(mode="json"))
    order_row = await get_order(session, body.order_id, lock=True)
    if order_row is None or (
        principal.role is Role.buyer and order_row.buyer_id != principal.subject_id
    ):
        raise Problem(404, "order_not_found", f"no order {body.order_id}", field="order_id")
    earlier = await idempotency.replayed(session, principal, idempotency_key, _SCOPE, digest)
    if earlier is not None and earlier.resource_id:
        return earlier.resource_id, False

    order = to_snapshot(order_row)
    prior = await prior_refunds(session, order.order_id)
    requested = [RequestedLine(line_id=x.line_id, quantity=x.quantity) for x in body.lines]
    applied = await merchant_policy(session, settings, order.merchant_id)
    policy = ticket_policy(settings, order.currency, applied)
    now = datetime.now(UTC)
    try:
        check_order(order, body.type, prior)
        if principal.role is not Role.support:
            # Support may open a ticket on a buyer's behalf after the window (SPEC §2).
            check_window(order, body.reason_code, applied.values.windows, now)
        check_lines(order, requested, prior, await lines_with_open_tickets(session, order.order_id))
        check_application_limit(
            requested,
            await applications_per_line(session, order.order_id),
            applied.values.max_applications_per_line,
        )
        quote = quote_refund(
            order,
            prior,
            RefundRequest(
                lines=requested,
                reason_code=body.reason_code,
                requested_amount=body.requested_amount,
            ),
            refund_policy(settings, order.currency, applied),
        )
    except (EligibilityError, RefundRuleError) as error:
        raise _refused(error) from error
    await check_balance_currency(settings, order.currency, body)

    ticket_no = await next_ticket_no(session, now)
    session.add(
        Ticket(
            ticket_no=ticket_no,
            order_id=order.order_id,
            buyer_id=order.buyer_id,
            merchant_id=order.merchant_id,
            type=body.type,
            reason_code=body.reason_code,
            description=body.description,
            evidence=[str(url) for url in body.evidence],
            destination=body.destination or Destination.original,
            destination_details=body.destination_details(),
            currency=order.currency,
            requested_amount=body.requested_amount,
            quoted_amount=quote.total,
            breakdown=quote.model_dump(mode="json"),
            status=TicketStatus.submitted,
            next_actor=Actor.system,
            policy=policy.model_dump(mode="json"),
            version=0,
            created_by_role=principal.role,
            lines=[
                TicketLine(order_id=order.order_id, line_id=x.line_id, quantity=x.quantity)
                for x in requested
            ],
        )
    )
    idempotency.remember(session, principal, idempotency_key, _SCOPE, digest, ticket_no, 201)
    try:
        # Unique constraints speak now, before the workflow exists.
        await session.flush()
    except IntegrityError as error:
        raise Problem(
            409, "concurrent_request", "the same request is being handled; retry shortly"
        ) from error
    ticket = TicketInput(
        ticket_no=ticket_no,
        order_id=order.order_id,
        buyer_id=order.buyer_id,
        merchant_id=order.merchant_id,
        type=body.type,
        order_shipped=order.is_shipped,
        order_delivered=order.status in (OrderStatus.delivered, OrderStatus.completed),
        currency=order.currency,
        quoted_amount=quote.total,
        reason_code=body.reason_code,
        requested_amount=body.requested_amount,
        lines={x.line_id: x.quantity for x in requested},
        policy=policy,
        opened_by=Actor(principal.role),
        opened_at=now,
    )
    await start_ticket_workflow(temporal, settings, ticket)
    try:
        await session.commit()
    except Exception:
        # The workflow must not outlive a ticket that was never stored.
        await temporal.get_workflow_handle(ticket_no).terminate("ticket was not stored")
        raise
    return ticket_no, True
