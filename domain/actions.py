"""Which actor may take which action on a ticket, and in which states (SPEC §8)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from domain.tickets import TERMINAL_STATUSES, Actor, TicketStatus


class Action(StrEnum):
    """Named as in the API path: `POST /v1/tickets/{id}/<action>`."""

    approve = "approve"
    reject = "reject"
    return_shipment = "return-shipment"
    cancel = "cancel"
    escalate = "escalate"
    inspection = "inspection"
    resolve_inspection = "resolve-inspection"
    reship = "reship"
    confirm_receipt = "confirm-receipt"
    arbitrate = "arbitrate"
    second_approval = "second-approval"
    retry_refund = "retry-refund"
    evidence = "evidence"
    messages = "messages"


S = TicketStatus
_OPEN = frozenset(S) - TERMINAL_STATUSES - {S.submitted}

# action -> actor -> the states in which that actor may take it.
RULES: Mapping[Action, Mapping[Actor, frozenset[TicketStatus]]] = {
    Action.approve: {Actor.merchant: frozenset({S.awaiting_merchant_review})},
    Action.reject: {Actor.merchant: frozenset({S.awaiting_merchant_review})},
    Action.return_shipment: {Actor.buyer: frozenset({S.awaiting_buyer_return})},
    Action.cancel: {
        Actor.buyer: frozenset(
            {
                S.awaiting_buyer_evidence,
                S.awaiting_merchant_review,
                S.awaiting_buyer_return,
                S.rejected,
            }
        )
    },
    Action.escalate: {
        Actor.buyer: frozenset(
            {
                S.rejected,
                S.return_in_transit,
                S.inspection_failed,
                S.awaiting_difference_payment,
                S.awaiting_reship,
                S.replacement_in_transit,
            }
        ),
        Actor.merchant: frozenset({S.awaiting_merchant_review, S.inspection_failed}),
    },
    Action.inspection: {
        # A parcel can reach the warehouse before the courier reports it delivered.
        Actor.warehouse: frozenset({S.return_in_transit, S.awaiting_inspection})
    },
    Action.resolve_inspection: {Actor.merchant: frozenset({S.inspection_failed})},
    Action.reship: {Actor.merchant: frozenset({S.awaiting_reship})},
    Action.confirm_receipt: {Actor.buyer: frozenset({S.replacement_in_transit})},
    Action.arbitrate: {Actor.support: frozenset({S.under_arbitration})},
    Action.second_approval: {Actor.support: frozenset({S.awaiting_second_approval})},
    Action.retry_refund: {Actor.support: frozenset({S.refund_failed})},
    Action.evidence: {Actor.buyer: frozenset({S.awaiting_buyer_evidence})},
    # Messages are stored by the API and never change the ticket's state.
    Action.messages: {
        Actor.buyer: _OPEN,
        Actor.merchant: _OPEN,
        Actor.support: frozenset(S),
    },
}

# Actions that reach the workflow as Updates; the others are served by the API alone.
WORKFLOW_ACTIONS = frozenset(Action) - {Action.messages}


def who(action: Action) -> frozenset[Actor]:
    return frozenset(RULES[action])


def may(actor: Actor, action: Action) -> bool:
    return actor in RULES[action]


def may_now(actor: Actor, action: Action, status: TicketStatus) -> bool:
    return status in RULES[action].get(actor, frozenset())


def states_for(action: Action) -> frozenset[TicketStatus]:
    """Every state in which some actor may take `action`."""
    return frozenset().union(*RULES[action].values())


def allowed_actions(status: TicketStatus, actor: Actor) -> list[Action]:
    """What `actor` can do on a ticket in `status` right now."""
    return [action for action in Action if may_now(actor, action, status)]
