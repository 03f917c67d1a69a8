"""`aftersales refunds failed | retry`: the refunds waiting on support, and sending one again.

A retry is support's `POST /v1/tickets/{ticket_no}/retry-refund`: the same request, built by the
same code (api.routes.ticket_actions.ROUTES), sent as the same workflow Update by the same
service (api.services.ticket_actions.take_action), as `support:cli` unless `--support-id` says.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload
from temporalio.service import RPCError

from aftersales_cli import runtime
from aftersales_cli.formatting import listing, money, span
from api import faults
from api.problems import Problem
from api.routes.ticket_actions import ROUTES
from api.schemas.actions import RetryRefundBody
from api.services.action_requests import Acting
from api.services.ticket_actions import take_action
from api.services.ticket_view import load_detail, visible_ticket
from domain.actions import Action, may_now, states_for
from domain.tickets import Actor, Destination, TicketStatus
from persistence.models import Refund, Ticket
from persistence.tickets import Scope, TicketFilter, listed

app = typer.Typer(
    help="Refunds that failed, and sending them again.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

RETRY = next(route for route in ROUTES if route.action is Action.retry_refund)
WAITING = sorted(states_for(Action.retry_refund))


@app.command()
def failed(
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000)] = 100,
) -> None:
    """Tickets whose refund failed, waiting for support to send it again.

    Oldest first, with the provider's reason; a refund the bank sent back is among them."""
    runtime.run(_failed(limit))


async def _failed(limit: int) -> int:
    query = (
        listed(Scope(), TicketFilter())
        .where(Ticket.status.in_(WAITING))
        .options(raiseload(Ticket.lines))
        .order_by(Ticket.updated_at, Ticket.ticket_no)
        .limit(limit)
    )
    async with runtime.database(runtime.settings()) as sessions, sessions() as session:
        tickets = list((await session.execute(query)).scalars())
        attempts = await session.scalars(
            select(Refund)
            .where(Refund.ticket_no.in_([t.ticket_no for t in tickets]))
            .order_by(Refund.ticket_no, Refund.seq)
        )
        last = {refund.ticket_no: refund for refund in attempts}
    now = datetime.now(UTC)
    table = Table()
    for name in ("ticket no", "order", "merchant", "amount", "attempt", "destination", "reason"):
        table.add_column(name, no_wrap=name in ("ticket no", "amount"))
    table.add_column("waiting")
    for ticket in tickets:
        refund = last.get(ticket.ticket_no)
        table.add_row(
            ticket.ticket_no,
            ticket.order_id,
            ticket.merchant_id,
            money(refund.amount if refund else ticket.granted_amount, ticket.currency),
            f"{refund.seq} {refund.status}" if refund else "-",
            refund.destination if refund else ticket.destination,
            Text((refund.failure_reason if refund else None) or "-"),
            span(now - ticket.updated_at),
        )
    runtime.out().print(listing(f"{len(tickets)} ticket(s) whose refund failed", table))
    return runtime.OK


@app.command()
def retry(
    ticket_no: Annotated[str, typer.Argument(metavar="TICKET_NO")],
    note: Annotated[str, typer.Option("--note", help="why, for the ticket's timeline")] = "",
    support_id: Annotated[
        str | None, typer.Option("--support-id", help="who acts (default: cli)")
    ] = None,
    destination: Annotated[
        Destination | None,
        typer.Option("--destination", help="send it elsewhere; default: where it went"),
    ] = None,
    holder: Annotated[
        str | None, typer.Option("--holder", help="bank_transfer: the account holder")
    ] = None,
    iban: Annotated[str | None, typer.Option("--iban", help="bank_transfer: the IBAN")] = None,
    balance_currency: Annotated[
        str | None, typer.Option("--balance-currency", help="balance: credit this currency")
    ] = None,
    expected_version: Annotated[
        int | None, typer.Option("--expected-version", help="refused if the ticket moved on")
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option("--idempotency-key", help="send again under it after an unknown outcome"),
    ] = None,
) -> None:
    """Send a failed refund again, as support does through the API.

    A new attempt under a new key, where the failed one went or elsewhere. Refused (exit
    status 1, with the reason) unless the ticket's refund failed."""
    fields: dict[str, Any] = {"note": note, "expected_version": expected_version}
    if destination is not None:
        fields["destination"] = destination
    if holder is not None or iban is not None:
        fields["bank_account"] = {"holder_name": holder, "iban": iban}
    if balance_currency is not None:
        fields["balance_currency"] = balance_currency
    runtime.run(_retry(ticket_no, fields, support_id, idempotency_key))


async def _retry(
    ticket_no: str, fields: dict[str, Any], support_id: str | None, key: str | None
) -> int:
    body = RetryRefundBody.model_validate(fields)
    config = runtime.settings()
    principal = runtime.support(support_id)
    async with runtime.database(config) as sessions, sessions() as session:
        ticket = await visible_ticket(session, ticket_no, principal)
        # Said here without asking Temporal, unless a key may name a retry already taken: its
        # replay is answered by the key (take_action), and the workflow refuses the others.
        if key is None and not may_now(Actor.support, RETRY.action, TicketStatus(ticket.status)):
            raise Problem(409, "illegal_transition", await _not_failed(session, ticket))
        client = await runtime.temporal(config)
        request = await RETRY.build(
            RETRY.contract, body, Acting(session, config, principal, ticket)
        )
        try:
            taken = await take_action(
                session,
                client,
                principal,
                ticket,
                action=RETRY.action,
                update=RETRY.update,
                request=request,
                idempotency_key=key,
            )
        except (faults.TemporalSilent, RPCError) as error:
            raise Problem(503, faults.OUTCOME_UNKNOWN, _unknown(ticket_no, key, error)) from error
        # Forget what this session read before the Update: the answer shows the new state.
        await session.rollback()
        session.expire_all()
        after = await load_detail(session, ticket_no, principal)
    said = "already sent under this key" if not taken else "sent again"
    last = after.timeline[-1] if after.timeline else None
    step = f" ({last.event}: {last.reason})" if last is not None else ""
    runtime.out().print(
        f"{ticket_no}: refund {said} by {principal.name}; the ticket is {after.status}{step}",
        markup=False,
    )
    return runtime.OK


async def _not_failed(session: AsyncSession, ticket: Ticket) -> str:
    latest = await session.scalar(
        select(Refund).where(Refund.ticket_no == ticket.ticket_no).order_by(Refund.seq.desc())
    )
    refund = f"its refund {latest.seq} is {latest.status}" if latest else "it has no refund"
    waiting = ", ".join(WAITING)
    return (
        f"{ticket.ticket_no} is {ticket.status} and {refund}: only a ticket whose refund failed "
        f"({waiting}) can have its refund sent again"
    )


def _unknown(ticket_no: str, key: str | None, error: Exception) -> str:
    again = (
        "send the same command again with the same --idempotency-key: it takes effect at most once"
        if key
        else f"read `aftersales tickets show {ticket_no}` before sending it again"
    )
    return (
        f"Temporal did not answer while the retry was sent ({error}): it may or may not have "
        f"been taken; {again}"
    )
