"""A ticket workflow's input and result."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel

from contracts.activities import RefundDestination, RefundState
from domain.exchanges import ExchangeTerms
from domain.policy import Deadlines, RefundRules, ReturnShipping
from domain.rules import RuleSet, TicketFacts
from domain.tickets import Actor, TicketStatus, TicketType

# The ticket workflow's query of its current state, for callers that do not import the workflow.
STATE_QUERY = "state"


class TicketPolicy(ReturnShipping, RefundRules, Deadlines):
    """The policy a ticket was opened under; it never changes for that ticket.

    Every field of `domain.policy.Policy` but its opening rules, as the global settings and the
    merchant's overrides set them (their SPEC defaults let payloads of tickets opened before a
    field existed decode), plus what only the ticket records.
    """

    version: str
    # How often the ticket asks the provider for a refund's status when no webhook came.
    refund_status_poll: timedelta
    # The merchant's threshold, else the global one of the order's currency: never None here.
    second_approval_threshold: int
    # The merchant's rules in force when the ticket opened; None: it had none.
    rules: RuleSet | None = None


class Reopening(BaseModel):
    """A ticket whose workflow had ended, started again because its refund came back
    (`refund.reversed` after success): where its record stood, and the refund reversed."""

    status: TicketStatus
    version: int
    seq: int
    refund_seq: int
    refunded_amount: int
    refund: RefundState
    # The reversed refund's amount, owed again.
    amount: int
    # The reversed refund's terms, so support can send the same refund again.
    service_fee: int = 0
    requested_amount: int | None = None
    lines: dict[str, int] | None = None
    destination: RefundDestination | None = None
    price_difference: bool = False


class TicketInput(BaseModel):
    ticket_no: str
    order_id: str
    buyer_id: str
    merchant_id: str
    type: TicketType
    order_shipped: bool
    currency: str
    quoted_amount: int
    reason_code: str
    lines: dict[str, int]
    policy: TicketPolicy
    opened_by: Actor
    opened_at: datetime
    order_delivered: bool = False
    requested_amount: int | None = None
    reopened: Reopening | None = None
    # What the merchant's rules read, the buyer's risk left out (None for tickets opened before
    # rules existed).
    facts: TicketFacts | None = None
    # The replacements of an exchange for other items and their price difference (None: the
    # same items back, or not an exchange).
    exchange: ExchangeTerms | None = None


class TicketResult(BaseModel):
    ticket_no: str
    status: TicketStatus
    refunded_amount: int
