"""Merchants' rule sets: every version kept, the newest one in force for new tickets."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.events import TicketEvent
from domain.rules import Rule, RuleSet
from domain.ticket_facts import risk_facts
from persistence.models import Merchant, MerchantRuleSet, Ticket, TimelineEntry


def rules_version(merchant_id: str, version: int) -> str:
    return f"{merchant_id}-rules-v{version}"


def to_rule_set(row: MerchantRuleSet) -> RuleSet:
    return RuleSet(
        version=rules_version(row.merchant_id, row.version),
        rules=[Rule.model_validate(rule) for rule in row.rules],
    )


async def current_rules(session: AsyncSession, merchant_id: str) -> MerchantRuleSet | None:
    """The merchant's newest rule set; None when it never had one."""
    return await session.scalar(
        select(MerchantRuleSet)
        .where(MerchantRuleSet.merchant_id == merchant_id)
        .order_by(MerchantRuleSet.version.desc())
        .limit(1)
    )


async def save_rules(
    session: AsyncSession, merchant_id: str, rules: list[Rule], updated_by: str | None
) -> MerchantRuleSet:
    """Add the next version of the merchant's rules. Two writers at once each get their own
    version: the merchant's row is locked while the next number is taken."""
    await session.execute(
        select(Merchant.merchant_id).where(Merchant.merchant_id == merchant_id).with_for_update()
    )
    following = (
        select(func.coalesce(func.max(MerchantRuleSet.version), 0) + 1)
        .where(MerchantRuleSet.merchant_id == merchant_id)
        .scalar_subquery()
    )
    statement = (
        insert(MerchantRuleSet)
        .values(
            merchant_id=merchant_id,
            version=following,
            rules=[rule.model_dump(mode="json", exclude_none=True) for rule in rules],
            updated_by=updated_by,
        )
        .returning(MerchantRuleSet)
    )
    result = await session.execute(statement, execution_options={"populate_existing": True})
    return result.scalar_one()


async def ticket_facts(
    session: AsyncSession, merchant_id: str, ticket_no: str
) -> tuple[dict[str, Any] | None, str | None, list[Any]] | None:
    """A ticket of the merchant's: its stored facts (None when it opened before rules existed),
    its risk level (None while not assessed) and reasons; None when it has no such ticket."""
    found = await session.execute(
        select(Ticket.facts, Ticket.risk_level, Ticket.risk_reasons).where(
            Ticket.ticket_no == ticket_no, Ticket.merchant_id == merchant_id
        )
    )
    row = found.one_or_none()
    return None if row is None else (row.facts, row.risk_level, list(row.risk_reasons))


async def buyer_history_facts(session: AsyncSession, ticket_no: str) -> dict[str, Any]:
    """`refunds_90d` and `watchlisted` as the ticket's last risk assessment recorded them (its
    review step's data, or its rules' decision); empty before any."""
    data = await session.scalar(
        select(TimelineEntry.data)
        .where(
            TimelineEntry.ticket_no == ticket_no,
            TimelineEntry.event.in_([TicketEvent.submitted_for_review, TicketEvent.rule_decided]),
        )
        .order_by(TimelineEntry.seq.desc())
        .limit(1)
    )
    if not data:
        return {}
    facts = risk_facts(data["risk"]) if "risk" in data else data.get("facts") or {}
    return {name: facts[name] for name in ("refunds_90d", "watchlisted") if name in facts}
