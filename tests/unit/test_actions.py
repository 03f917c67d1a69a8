"""Who may act on a ticket, and when."""

from domain.actions import Action, allowed_actions, may
from domain.tickets import Actor, TicketStatus


def test_only_support_gives_a_second_approval_and_only_while_it_is_awaited() -> None:
    assert may(Actor.support, Action.second_approval)
    assert not any(
        may(actor, Action.second_approval) for actor in Actor if actor is not Actor.support
    )
    assert allowed_actions(TicketStatus.awaiting_second_approval, Actor.support) == [
        Action.second_approval
    ]
    assert allowed_actions(TicketStatus.awaiting_second_approval, Actor.buyer) == []
    for status in TicketStatus:
        if status is not TicketStatus.awaiting_second_approval:
            assert allowed_actions(status, Actor.support) == []
