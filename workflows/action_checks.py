"""What an action's request must satisfy whatever the ticket's state (the API answers 422).

Pure checks of the request against the ticket's input; validators call them.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import contracts as c
    from domain.reasons import is_merchant_fault
    from domain.tickets import Destination

from workflows.actor_inbox import invalid

DESTINATIONS = frozenset(Destination)


def approve(ticket: c.TicketInput, request: c.Approve) -> None:
    if request.service_fee and is_merchant_fault(ticket.reason_code):
        raise invalid(
            "service_fee_not_allowed",
            f"no service fee on a merchant-fault reason ({ticket.reason_code})",
        )
    if request.service_fee > ticket.quoted_amount:
        raise invalid(
            "service_fee_out_of_range",
            f"the service fee {request.service_fee} exceeds the refund {ticket.quoted_amount}",
        )
    exchange = ticket.exchange
    if exchange is not None and request.service_fee > exchange.refund:
        # An exchange for another item refunds at most its price difference.
        raise invalid(
            "service_fee_out_of_range",
            f"the service fee {request.service_fee} exceeds the refund of the replacement's "
            f"price difference ({exchange.refund})",
        )


def inspection(ticket: c.TicketInput, request: c.Inspection) -> None:
    found = {line.line_id: line.accepted + line.rejected for line in request.lines}
    if len(found) != len(request.lines) or found != ticket.lines:
        expected = ", ".join(f"{k} x{v}" for k, v in ticket.lines.items())
        raise invalid(
            "inspection_lines_mismatch",
            "inspect every returned unit once: accepted + rejected per line must be " + expected,
        )


def partial_amount(ticket: c.TicketInput, request: c.ResolveInspection | c.Arbitration) -> None:
    if request.decision != "partial_refund":
        return
    amount = request.amount
    if amount is None or amount <= 0:
        raise invalid("amount_required", "a partial refund needs an amount above zero")
    if amount > ticket.quoted_amount:
        raise invalid(
            "amount_exceeds_maximum",
            f"{amount} is more than the ticket's refund of {ticket.quoted_amount}",
        )


def retry_refund(ticket: c.TicketInput, request: c.RetryRefund) -> None:
    if request.destination is not None and request.destination not in DESTINATIONS:
        raise invalid("destination_not_available", f"no destination {request.destination}")
    details = request.destination_details or {}
    if request.destination == Destination.bank_transfer and not details.get("iban"):
        raise invalid("bank_account_required", "a bank transfer needs the buyer's account")
