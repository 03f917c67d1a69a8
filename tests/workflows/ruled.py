"""Tickets opened under a merchant's rules, for the workflow tests of rule outcomes."""

from __future__ import annotations

from typing import Any

from domain.rules import Outcome, Rule, RuleSet, TicketFacts
from domain.tickets import TicketType
from tests.support.rule_facts import sample_facts
from tests.workflows.fakes import AMOUNT, ticket_input

RETURN = {"type": TicketType.return_refund, "order_shipped": True, "order_delivered": True}


def facts(**overrides: Any) -> TicketFacts:
    """The facts of the fakes' ticket: a return of two clearance mugs, delivered 3 days ago."""
    return sample_facts(amount=AMOUNT, quantity=2, sku="MUG-1", days_since_delivery=3, **overrides)


def ruled(*rules: Rule, version: str = "m-1-rules-v1", **ticket: Any) -> dict[str, Any]:
    """Start options of a ticket opened under `rules`."""
    policy = ticket_input("unused").policy.model_copy(
        update={"rules": RuleSet(version=version, rules=list(rules))}
    )
    return {**RETURN, "policy": policy, "facts": facts(), **ticket}


def rule(rule_id: str, when: str, **outcome: Any) -> Rule:
    return Rule(id=rule_id, name=rule_id.replace("-", " "), when=when, then=Outcome(**outcome))
