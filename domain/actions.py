"""Which actor may take which action on a ticket, and in which states (SPEC §8)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from domain.tickets import Actor, TicketStatus


class Action(StrEnum):
    """Named as in the API path: `POST /v1/tickets/{id}/<action>`."""

    second_approval = "second-approval"


WHO: Mapping[Action, frozenset[Actor]] = {
    Action.second_approval: frozenset({Actor.support}),
}

WHEN: Mapping[Action, frozenset[TicketStatus]] = {
    Action.second_approval: frozenset({TicketStatus.awaiting_second_approval}),
}


def may(actor: Actor, action: Action) -> bool:
    return actor in WHO[action]


def allowed_actions(status: TicketStatus, actor: Actor) -> list[Action]:
    """What `actor` can do on a ticket in `status` right now."""
    return [action for action in Action if status in WHEN[action] and may(actor, action)]
