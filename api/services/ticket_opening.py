"""Opening a ticket: check the application, record it, then start its workflow.

The two cannot be one transaction. The row is committed first, and the workflow started after
it; a fault between the two answers `outcome_unknown`, and the same request sent again under the
same `Idempotency-Key` finds the row and starts the workflow if it is not running yet (the
ticket number is the workflow id, so this never starts a second one).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api import faults, idempotency
from api.auth import Principal, Role
from api.problems import Problem
from api.schemas.tickets import TicketCreate
from api.services.destinations import check_balance_currency
from api.services.policy import merchant_policy, refund_policy, ticket_policy
from api.services.rules import merchant_rules, ticket_channel
from api.services.ticket_workflows import ensure_ticket_workflow, opening_input
from domain.eligibility import (
    EligibilityError,
    check_application_limit,
    check_lines,
    check_order,
    check_window,
)
from domain.exchanges import ExchangeError, ExchangeTerms, exchange_terms
from domain.orders import OrderSnapshot
from domain.refund_terms import PriorRefunds, RefundRequest, RefundRuleError, RequestedLine
from domain.refunds import quote_refund
from domain.ticket_facts import opening_facts
from domain.tickets import Actor, Destination, TicketStatus, TicketType
from persistence.applications import applications_per_line
from persistence.catalogue import offers
from persistence.models import Ticket, TicketLine
from persistence.orders import get_order, prior_refunds, to_snapshot
from persistence.tickets import lines_with_open_tickets, next_ticket_no
from settings import Settings

_SCOPE = "POST /v1/tickets"


def _refused(error: EligibilityError | RefundRuleError | ExchangeError) -> Problem:
    return Problem(422, error.code, error.message, field=error.field)


async def _replacements(
    session: AsyncSession,
    body: TicketCreate,
    order: OrderSnapshot,
    prior: PriorRefunds,
    requested: list[RequestedLine],
) -> ExchangeTerms | None:
    """The terms of the other items an exchange asks for, priced from the catalogue."""
    wanted = {x.line_id: x.replacement_sku for x in body.lines if x.replacement_sku}
    if not wanted:
        return None
    fields = {x.line_id: f"lines[{i}].replacement_sku" for i, x in enumerate(body.lines)}
    if body.type is not TicketType.exchange:
        first = next(iter(wanted))
        raise ExchangeError(
            "replacement_not_allowed",
            f"only an exchange asks for another item; this ticket is {body.type}",
            fields[first],
        )
    listed = await offers(session, order.merchant_id, wanted.values())
    for line_id, sku in wanted.items():
        if sku not in listed:
            raise ExchangeError(
                "replacement_not_offered",
                f"merchant {order.merchant_id} lists no item {sku!r} in its catalogue",
                fields[line_id],
            )
    return exchange_terms(
        order, prior, requested, {line_id: listed[sku] for line_id, sku in wanted.items()}
    )


async def open_ticket(
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    principal: Principal,
    body: TicketCreate,
    idempotency_key: str | None,
) -> tuple[str, Ticket | None]:
    """Returns the ticket number and, when this call created it, the row it wrote (with its
    lines); None when it is a replay of an earlier call.

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
        await _finish_opening(session, temporal, settings, earlier.resource_id, idempotency_key)
        return earlier.resource_id, None

    order = to_snapshot(order_row)
    prior = await prior_refunds(session, order.order_id)
    requested = [
        RequestedLine(line_id=x.line_id, quantity=x.quantity, reason_code=x.reason_code)
        for x in body.lines
    ]
    applied = await merchant_policy(session, settings, order.merchant_id)
    rules = await merchant_rules(session, order.merchant_id)
    policy = ticket_policy(settings, order.currency, applied, rules)
    channel = ticket_channel(principal, body.channel)
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
        exchange = await _replacements(session, body, order, prior, requested)
    except (EligibilityError, RefundRuleError, ExchangeError) as error:
        raise _refused(error) from error
    await check_balance_currency(settings, order.currency, body)
    # Nothing is written yet: a Temporal that does not answer refuses the ticket cleanly.
    await faults.temporal_reachable(temporal)

    ticket_no = await next_ticket_no(session, now)
    ticket = Ticket(
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
        channel=channel,
        exchange=None if exchange is None else exchange.model_dump(mode="json"),
        facts=opening_facts(
            order,
            quote,
            ticket_type=body.type,
            reason_code=body.reason_code,
            line_reasons={x.line_id: x.reason_code for x in requested if x.reason_code},
            requested_amount=body.requested_amount,
            channel=channel,
            opened_by=Actor.support if principal.role is Role.support else Actor.buyer,
            evidence_count=len(body.evidence),
            opened_at=now,
        ).model_dump(mode="json"),
        version=0,
        created_by_role=principal.role,
        lines=[
            TicketLine(
                order_id=order.order_id,
                line_id=x.line_id,
                quantity=x.quantity,
                reason_code=x.reason_code,
            )
            for x in requested
        ],
    )
    session.add(ticket)
    idempotency.remember(session, principal, idempotency_key, _SCOPE, digest, ticket_no, 201)
    await idempotency.flush_first(session)
    # The row first, then the workflow: a workflow whose row was never stored would decide and
    # pay for a ticket nobody can see, while a row whose workflow is not started yet only waits
    # for the retry under the same key (above) to start it.
    faults.may_take_effect("the ticket's creation", idempotency_key, ticket_no)
    await session.commit()
    await ensure_ticket_workflow(temporal, settings, opening_input(ticket, order, now))
    return ticket_no, ticket


async def _finish_opening(
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    ticket_no: str,
    idempotency_key: str | None,
) -> None:
    """A retry of a creation whose workflow may not have started (Temporal failed after the row
    was committed): start it now. Once the workflow has moved the ticket on, nothing to do."""
    ticket = await session.get(Ticket, ticket_no)
    if ticket is None or ticket.status != TicketStatus.submitted:
        return
    order = await get_order(session, ticket.order_id)
    assert order is not None  # a ticket's order is never deleted
    faults.may_take_effect("the ticket's creation", idempotency_key, ticket_no)
    await ensure_ticket_workflow(
        temporal, settings, opening_input(ticket, to_snapshot(order), ticket.created_at)
    )
