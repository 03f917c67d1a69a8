"""Every event a ticket's timeline records, by name: the workflow records them, the notification
templates, the report queries and the tests read them."""

from __future__ import annotations

from enum import StrEnum

from domain.tickets import Actor


class TicketEvent(StrEnum):
    approved_automatically = "approved_automatically"
    approved_by_merchant = "approved_by_merchant"
    approved_by_rule = "approved_by_rule"
    # Approved at opening by one of the merchant's own rules (domain.rules).
    approved_by_merchant_rule = "approved_by_merchant_rule"
    arbitrated_partial_refund = "arbitrated_partial_refund"
    arbitrated_refund = "arbitrated_refund"
    arbitrated_reject = "arbitrated_reject"
    arbitrated_return_to_buyer = "arbitrated_return_to_buyer"
    buyer_return_timeout = "buyer_return_timeout"
    cancelled_by_buyer = "cancelled_by_buyer"
    checkin_timeout = "checkin_timeout"
    closed_after_rejection = "closed_after_rejection"
    # A dearer replacement: the platform confirmed the buyer paid the difference, or it did not
    # come in time (the returned goods are refunded instead).
    difference_paid = "difference_paid"
    difference_payment_timeout = "difference_payment_timeout"
    # A cheaper replacement's difference above the second-approval threshold, declined by
    # support: nothing is refunded, and the replacement is shipped all the same.
    difference_refund_declined = "difference_refund_declined"
    escalated_by_buyer = "escalated_by_buyer"
    # A merchant rule asks for evidence photos before review; the buyer adds them, or does not.
    evidence_requested = "evidence_requested"
    evidence_added = "evidence_added"
    evidence_timeout = "evidence_timeout"
    escalated_by_merchant = "escalated_by_merchant"
    escalated_instead_of_auto_acceptance = "escalated_instead_of_auto_acceptance"
    escalated_instead_of_auto_approval = "escalated_instead_of_auto_approval"
    inspection_failed = "inspection_failed"
    inspection_passed = "inspection_passed"
    inspection_resolved_partial_refund = "inspection_resolved_partial_refund"
    inspection_resolved_return_to_buyer = "inspection_resolved_return_to_buyer"
    merchant_reminded = "merchant_reminded"
    receipt_confirmed = "receipt_confirmed"
    receipt_timeout = "receipt_timeout"
    refund_failed = "refund_failed"
    refund_redirected_to_balance = "refund_redirected_to_balance"
    refund_refused = "refund_refused"
    refund_retried = "refund_retried"
    refund_reversed = "refund_reversed"
    refund_settled = "refund_settled"
    rejected_by_merchant = "rejected_by_merchant"
    replacement_shipped = "replacement_shipped"
    reship_timeout = "reship_timeout"
    resolve_inspection_timeout = "resolve_inspection_timeout"
    return_delivered = "return_delivered"
    # The courier issued a prepaid return label on approval, or could not.
    return_label_issued = "return_label_issued"
    return_label_failed = "return_label_failed"
    return_delivery_overdue = "return_delivery_overdue"
    return_lost = "return_lost"
    return_shipped = "return_shipped"
    # A merchant rule's fast refund: paid when the courier first scanned the return parcel.
    refund_released_on_first_scan = "refund_released_on_first_scan"
    # A merchant rule fired on the ticket: which, its version, the facts it read, its outcome.
    rule_decided = "rule_decided"
    second_approval_declined = "second_approval_declined"
    second_approval_granted = "second_approval_granted"
    settlement_overdue = "settlement_overdue"
    submitted_for_review = "submitted_for_review"

    @classmethod
    def escalated_by(cls, actor: Actor) -> TicketEvent:
        """The buyer or the merchant asked support to decide."""
        return cls(f"escalated_by_{actor}")
