"""A ticket as support reads it in the API (`GET /v1/tickets/{id}`), drawn for a terminal."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from aftersales_cli.formatting import listing, moment, money
from api.schemas.tickets import RefundView, TicketDetail, TimelineView
from persistence.models import Ticket


def workflow_link(ui_url: str, namespace: str, ticket_no: str) -> str:
    """The ticket's workflow in the Temporal UI: its id is the ticket number."""
    return f"{ui_url.rstrip('/')}/namespaces/{namespace}/workflows/{ticket_no}"


def summary_table(rows: list[tuple[Ticket, str]]) -> RenderableType:
    """Tickets as `search` lists them; `rows` are tickets with an `age` beside each."""
    table = Table()
    for name in ("ticket no", "type", "status", "merchant", "amount", "deadline", "age"):
        table.add_column(name, no_wrap=name in ("ticket no", "amount"))
    for ticket, age in rows:
        table.add_row(
            ticket.ticket_no,
            ticket.type,
            ticket.status,
            ticket.merchant_id,
            money(_amount_at_stake(ticket), ticket.currency),
            moment(ticket.deadline_at),
            age,
        )
    return listing(f"{len(rows)} ticket(s)", table)


def _amount_at_stake(ticket: Ticket) -> int:
    """What the ticket refunds: the granted amount once granted, the quote before."""
    return ticket.granted_amount if ticket.granted_amount is not None else ticket.quoted_amount


def detail(ticket: TicketDetail, link: str) -> RenderableType:
    return Group(
        Text(f"{ticket.ticket_no}  {ticket.type}  {ticket.status}", style="bold"),
        _facts(ticket),
        _lines(ticket),
        _refunds(ticket.currency, ticket.refunds or []),
        _timeline(ticket.timeline or []),
        Text(f"Temporal UI: {link}"),
    )


def _facts(ticket: TicketDetail) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    risk = ticket.risk
    facts = {
        "order": ticket.order_id,
        "buyer": ticket.buyer_id,
        "merchant": ticket.merchant_id,
        "warehouse": ticket.warehouse_id or "-",
        "reason": ticket.reason_code,
        "next actor": ticket.next_actor or "-",
        "deadline": moment(ticket.deadline_at),
        "on timeout": ticket.on_timeout or "-",
        "escalated": "yes" if ticket.escalated else "no",
        "risk": f"{risk.level or '-'} {', '.join(risk.reasons)}".strip() if risk else "-",
        "quoted": money(ticket.quoted_amount, ticket.currency),
        "requested": money(ticket.requested_amount, ticket.currency),
        "granted": money(ticket.granted_amount, ticket.currency),
        "refunded": money(ticket.refunded_amount, ticket.currency),
        "service fee": money(ticket.service_fee, ticket.currency),
        "destination": _destination(ticket.destination or "-", ticket.destination_details),
        "version": str(ticket.version),
        "created": moment(ticket.created_at),
        "updated": moment(ticket.updated_at),
    }
    for name, value in facts.items():
        table.add_row(name, Text(value))
    return table


def _lines(ticket: TicketDetail) -> Table:
    table = Table(title="lines", title_justify="left")
    table.add_column("line")
    table.add_column("quantity", justify="right")
    for line in ticket.lines:
        table.add_row(line.line_id, str(line.quantity))
    return table


def _refunds(currency: str, refunds: list[RefundView]) -> Table:
    table = Table(title=f"refunds ({len(refunds)})", title_justify="left")
    for name in ("#", "status", "destination", "amount", "key", "provider refund", "failure"):
        table.add_column(name, no_wrap=name in ("amount", "key"))
    for refund in refunds:
        table.add_row(
            str(refund.seq),
            refund.status,
            _destination(refund.destination, refund.destination_details),
            money(refund.amount, refund.currency or currency),
            refund.idempotency_key,
            refund.provider_refund_id or "-",
            Text(refund.failure_reason or "-"),
        )
    return table


def _timeline(entries: list[TimelineView]) -> Table:
    table = Table(title=f"timeline ({len(entries)})", title_justify="left")
    for name in ("#", "at", "actor", "event", "from -> to", "reason"):
        table.add_column(name, no_wrap=name == "at")
    for entry in entries:
        actor = f"{entry.actor_role}:{entry.actor_id}" if entry.actor_id else entry.actor_role
        table.add_row(
            str(entry.seq),
            moment(entry.at),
            actor,
            entry.event,
            f"{entry.from_status or '-'} -> {entry.to_status}",
            Text(entry.reason),
        )
    return table


def _destination(destination: str, details: dict[str, Any] | None) -> str:
    """The API already masks an IBAN (api.presenters.shown_details)."""
    if not details:
        return destination
    shown = ", ".join(f"{key} {value}" for key, value in sorted(details.items()))
    return f"{destination} ({shown})"
