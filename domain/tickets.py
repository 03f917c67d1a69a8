"""Ticket types, states and who acts next (SPEC §2 and §3)."""

from __future__ import annotations

from enum import StrEnum, auto


class TicketType(StrEnum):
    refund_only = "refund_only"
    return_refund = "return_refund"
    exchange = "exchange"


class TicketStatus(StrEnum):
    """Values are the members' names (`auto()` of a StrEnum): stored and sent as such."""

    # Written once by the API when it accepts the application, before the workflow's first step.
    submitted = auto()
    # A merchant rule asks for evidence photos before the merchant reviews the ticket.
    awaiting_buyer_evidence = auto()
    awaiting_merchant_review = auto()
    awaiting_second_approval = auto()
    awaiting_buyer_return = auto()
    return_in_transit = auto()
    awaiting_inspection = auto()
    # A dearer replacement: the platform confirms the buyer paid the difference.
    awaiting_difference_payment = auto()
    awaiting_reship = auto()
    replacement_in_transit = auto()
    refunding = auto()
    rejected = auto()
    inspection_failed = auto()
    under_arbitration = auto()
    refund_failed = auto()
    completed = auto()
    cancelled = auto()
    closed = auto()


TERMINAL_STATUSES = frozenset({TicketStatus.completed, TicketStatus.cancelled, TicketStatus.closed})


class Actor(StrEnum):
    buyer = "buyer"
    merchant = "merchant"
    warehouse = "warehouse"
    support = "support"
    platform = "platform"
    system = "system"


class Channel(StrEnum):
    """Where a ticket came from; set by the platform (its buyer token) or by support."""

    app = "app"
    web = "web"
    mini_program = "mini_program"
    support_chat = "support_chat"
    api = "api"


class Destination(StrEnum):
    original = "original"
    balance = "balance"
    bank_transfer = "bank_transfer"
    coupon = "coupon"


_DESTINATION_WORDS: dict[str, str] = {
    Destination.original: "the original payment",
    Destination.balance: "the store-credit balance",
    Destination.bank_transfer: "a bank transfer",
    Destination.coupon: "a compensation coupon",
}


def describe_destination(destination: str) -> str:
    return _DESTINATION_WORDS.get(destination, destination)


# Provider refusals meaning the original payment can no longer be refunded at all: the refund
# falls back to the buyer's balance (SPEC §4).
NO_LONGER_REFUNDABLE = frozenset({"payment_too_old", "payment_not_refundable"})


def is_open(status: str) -> bool:
    return status not in TERMINAL_STATUSES


def ticket_number(day_yyyymmdd: str, sequence: int) -> str:
    """Human-readable ticket number, also the workflow id: `AS20261123-000042`."""
    return f"AS{day_yyyymmdd}-{sequence:06d}"


def refund_idempotency_key(ticket_no: str, refund_seq: int) -> str:
    """Derived from business ids so every retry of one refund reuses it."""
    return f"{ticket_no}-R{refund_seq}"


class RefundStatus(StrEnum):
    """One refund's status, from the grant to the provider's final word (SPEC §4)."""

    granted = "granted"
    pending = "pending"
    succeeded = "succeeded"
    failed = "failed"
    # Sent back by the bank after it had succeeded: the money is owed again.
    reversed = "reversed"
    # Granted, then declined by the second approver: no money moves.
    voided = "voided"


# The provider has said its last word on the refund: nothing changes it but a reversal.
FINAL_REFUND_STATUSES = frozenset({RefundStatus.succeeded, RefundStatus.failed})
