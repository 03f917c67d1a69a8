"""What the summary report (SPEC §7) counts each timeline event as."""

from __future__ import annotations

from domain.events import TicketEvent as E

# Timeline events that decide a claim. A ticket's outcome is its latest one, so a merchant's
# rejection overturned by a refund in arbitration counts as approved, and an approval that the
# second approver declines counts as rejected.
APPROVAL_EVENTS = (
    E.approved_by_merchant,
    E.approved_automatically,
    E.approved_by_rule,
    E.approved_by_merchant_rule,
    E.arbitrated_refund,
    E.arbitrated_partial_refund,
)
REJECTION_EVENTS = (
    E.rejected_by_merchant,
    E.second_approval_declined,
    E.arbitrated_reject,
    E.arbitrated_return_to_buyer,
)
AUTO_APPROVAL_EVENTS = (E.approved_automatically, E.approved_by_rule, E.approved_by_merchant_rule)
# What a deadline did when nobody acted in time (SPEC §3).
TIMEOUT_EVENTS = (
    E.approved_automatically,
    E.escalated_instead_of_auto_approval,
    E.buyer_return_timeout,
    E.return_delivery_overdue,
    E.checkin_timeout,
    E.escalated_instead_of_auto_acceptance,
    E.closed_after_rejection,
    E.resolve_inspection_timeout,
    E.reship_timeout,
    E.receipt_timeout,
    E.settlement_overdue,
)
