"""Who may act on a ticket, and when."""

from domain.actions import RULES, WORKFLOW_ACTIONS, Action, allowed_actions, may, states_for
from domain.tickets import TERMINAL_STATUSES, Actor, TicketStatus


def test_only_support_gives_a_second_approval_and_only_while_it_is_awaited() -> None:
    assert may(Actor.support, Action.second_approval)
    assert not any(
        may(actor, Action.second_approval) for actor in Actor if actor is not Actor.support
    )
    assert allowed_actions(TicketStatus.awaiting_second_approval, Actor.support) == [
        Action.second_approval,
        Action.messages,
    ]
    assert allowed_actions(TicketStatus.awaiting_second_approval, Actor.buyer) == [Action.messages]


def test_the_roles_of_the_api_contract() -> None:
    assert {action for action in Action if may(Actor.merchant, action)} == {
        Action.approve,
        Action.reject,
        Action.escalate,
        Action.resolve_inspection,
        Action.reship,
        Action.messages,
    }
    assert {action for action in Action if may(Actor.buyer, action)} == {
        Action.return_shipment,
        Action.cancel,
        Action.escalate,
        Action.confirm_receipt,
        Action.evidence,
        Action.messages,
    }
    assert {action for action in Action if may(Actor.warehouse, action)} == {Action.inspection}
    assert not any(may(Actor.platform, action) for action in Action)


def test_no_state_changing_action_is_open_on_a_finished_ticket() -> None:
    for action in WORKFLOW_ACTIONS:
        assert not states_for(action) & TERMINAL_STATUSES, action
    for status in TERMINAL_STATUSES:
        assert allowed_actions(status, Actor.buyer) == []
        assert allowed_actions(status, Actor.support) == [Action.messages]


def test_every_waiting_state_has_someone_who_can_move_it() -> None:
    waiting = (
        set(TicketStatus)
        - TERMINAL_STATUSES
        - {
            TicketStatus.submitted,
            TicketStatus.refunding,
            TicketStatus.refund_failed,
        }
    )
    movable = {status for action in WORKFLOW_ACTIONS for status in states_for(action)}
    assert waiting <= movable
    assert set(RULES) == set(Action)
