"""Rules checked before they are stored, and a dry run of rules on one ticket (SPEC §5).

A dry run decides as the ticket's workflow would (domain.rules.decide) and writes nothing: the
rules are the ones sent or the merchant's current ones, the facts those sent or a stored
ticket's, with the buyer's risk as last assessed.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from api.problems import Problem
from api.schemas.rules import PROPOSED, RulesTrial, TrialDecision, TrialResult
from domain.rules import Rule, RuleSet, TicketFacts, check_rules, decide
from persistence.rules import buyer_history_facts, current_rules, ticket_facts, to_rule_set


def checked(rules: RuleSet) -> RuleSet:
    """`rules` when every condition compiles and reads only known facts; 422 `rule_invalid`
    naming each problem otherwise."""
    problems = check_rules(rules)
    if not problems:
        return rules
    errors = [
        {"field": f"rules[{problem.index}].when", **problem.model_dump()} for problem in problems
    ]
    raise Problem(422, "rule_invalid", problems[0].message, extra={"errors": errors})


def proposed(rules: list[Rule]) -> RuleSet:
    return checked(RuleSet(version=PROPOSED, rules=rules))


async def rules_to_try(session: AsyncSession, merchant_id: str, sent: list[Rule] | None) -> RuleSet:
    """The rules sent, checked, or else the merchant's current ones."""
    if sent is not None:
        return proposed(sent)
    stored = await current_rules(session, merchant_id)
    if stored is None:
        raise Problem(
            422, "no_rules", f"merchant {merchant_id} has no rules yet: send `rules` to try some"
        )
    return checked(to_rule_set(stored))


async def _facts(session: AsyncSession, merchant_id: str, trial: RulesTrial) -> TicketFacts:
    if trial.ticket_no is None:
        assert trial.facts is not None  # the body holds one of the two
        return TicketFacts.model_validate(trial.facts.model_dump())
    found = await ticket_facts(session, merchant_id, trial.ticket_no)
    if found is None:
        raise Problem(404, "ticket_not_found", f"no ticket {trial.ticket_no}", field="ticket_no")
    facts, risk_level, risk_reasons = found
    if facts is None:
        raise _unavailable(trial.ticket_no, "opened before rules existed: its facts were not kept")
    risk: dict[str, Any] = {
        "risk_reasons": risk_reasons,
        **await buyer_history_facts(session, trial.ticket_no),
    }
    if risk_level is not None:
        risk["risk_level"] = risk_level
    try:
        return TicketFacts.model_validate({**facts, **risk})
    except ValidationError:
        # Kept before the facts rules read changed: a fact it lacks was never taken.
        raise _unavailable(
            trial.ticket_no, "opened before some of the facts rules read were kept"
        ) from None


def _unavailable(ticket_no: str, why: str) -> Problem:
    return Problem(
        422,
        "facts_unavailable",
        f"ticket {ticket_no} {why}; send `facts` instead",
        field="ticket_no",
    )


async def try_rules(session: AsyncSession, merchant_id: str, trial: RulesTrial) -> TrialResult:
    """What the rules decide on the ticket's facts; nothing is written."""
    rules = await rules_to_try(session, merchant_id, trial.rules)
    facts = await _facts(session, merchant_id, trial)
    verdict = decide(rules, facts)
    decision = verdict.decision
    return TrialResult(
        rules_version=verdict.rules_version,
        fired=decision is not None,
        decision=TrialDecision.model_validate(decision.model_dump(exclude={"rules_version"}))
        if decision
        else None,
        passed_over=verdict.passed_over,
        words=verdict.words(),
        facts=facts,
    )
