"""The rules a new ticket opens under, and where a new ticket says it came from."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Principal, Role
from api.problems import Problem
from domain.rules import RuleSet
from domain.tickets import Channel
from persistence.rules import current_rules, to_rule_set


async def merchant_rules(session: AsyncSession, merchant_id: str) -> RuleSet | None:
    """The merchant's newest rules; None when it has none, or its newest version has no rule."""
    stored = await current_rules(session, merchant_id)
    if stored is None or not stored.rules:
        return None
    return to_rule_set(stored)


def ticket_channel(principal: Principal, sent: Channel | None) -> Channel:
    """Support says where a ticket came from (its chat by default); a buyer's ticket came from
    the platform's app when it carries the platform's token, which may name another channel, and
    from the API otherwise. A buyer's own API key cannot claim a channel."""
    if principal.role is Role.support:
        return sent or Channel.support_chat
    if principal.key_id is None:
        return sent or Channel.app
    if sent is not None and sent is not Channel.api:
        raise Problem(
            403,
            "channel_not_settable",
            "only the platform (through its buyer token) or support sets the ticket's channel",
            field="channel",
        )
    return Channel.api
