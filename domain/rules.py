"""A merchant's rules (SPEC §5): ordered "when this, then that" over a ticket's facts.

A condition is a CEL expression (Common Expression Language: no loops, no I/O, no clock, so the same
facts always give the same answer). The first rule whose condition is true decides; a rule whose
condition cannot be evaluated on a ticket (a fact of the wrong type, say) is passed over and named
in the decision. The buyer's high risk and the second-approval threshold win over any rule: this
module says what a rule asks for; the ticket applies it within those bounds.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Any

import cel
from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.money import format_minor
from domain.reasons import Fault, fault_of

MAX_RULES = 100
# Evidence photos a ticket holds at most (the application's own limit).
MAX_EVIDENCE = 20
MAX_CONDITION_LENGTH = 2_000
# Macros over lists (`all`, `exists`, `map`, ...) in one condition: each may nest in another, and
# a ticket's lists hold up to 2,000 tags, so a third would cost billions of steps to evaluate.
MAX_COMPREHENSIONS = 2


class RefundRelease(StrEnum):
    """When a return's money goes back to the buyer."""

    on_approval = "on_approval"
    on_first_scan = "on_first_scan"
    on_delivery = "on_delivery"
    after_inspection = "after_inspection"


Percent = Annotated[int, Field(ge=0, le=100)]


class Outcome(BaseModel):
    """What a rule decides; every field left out leaves that part to the merchant and the policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    approve: bool = Field(False, description="approve the ticket at once, without review")
    manual_review: bool = Field(
        False, description="never approve automatically: a silent merchant escalates to support"
    )
    keep_item: bool = Field(
        False, description="refund without a return: the buyer keeps the goods (returns only)"
    )
    require_evidence: int | None = Field(
        None,
        ge=1,
        le=MAX_EVIDENCE,
        description="evidence photos the buyer must have attached before the merchant's review",
    )
    service_fee_percent: Percent | None = Field(
        None,
        description="service fee, a share of the refund rounded down to the minor unit; "
        "buyer-fault reasons only (SPEC §4)",
    )
    store_credit_bonus_percent: Percent | None = Field(
        None,
        description="extra store credit, a share of the refund rounded down to the minor unit, "
        "when the refund goes to the buyer's balance",
    )
    warehouse_id: str | None = Field(
        None, min_length=1, max_length=64, description="the warehouse the goods go back to"
    )
    refund_release: RefundRelease | None = Field(
        None, description="when a return's refund is paid; after inspection by default"
    )

    @model_validator(mode="after")
    def _says_something(self) -> Outcome:
        if self.approve and self.manual_review:
            raise ValueError("an outcome cannot both approve and send to manual review")
        said = [name for name, value in self if value not in (None, False)]
        if not said:
            raise ValueError("an outcome needs at least one field that decides something")
        return self

    def describe(self, currency: str, refund: int) -> list[str]:
        """The outcome in words, for a refund of `refund` minor units."""
        words = []
        if self.approve:
            words.append("approve automatically")
        if self.manual_review:
            words.append("manual review: no automatic approval")
        if self.keep_item:
            words.append("the buyer keeps the item (no return)")
        if self.require_evidence is not None:
            words.append(f"at least {self.require_evidence} evidence photos before review")
        if self.service_fee_percent is not None:
            fee = percent_of(refund, self.service_fee_percent)
            words.append(
                f"service fee {self.service_fee_percent} % = {format_minor(fee, currency)}"
            )
        if self.store_credit_bonus_percent is not None:
            bonus = percent_of(refund, self.store_credit_bonus_percent)
            words.append(
                f"store credit bonus {self.store_credit_bonus_percent} % = "
                f"{format_minor(bonus, currency)} if refunded to balance"
            )
        if self.warehouse_id is not None:
            words.append(f"return to warehouse {self.warehouse_id}")
        if self.refund_release is not None:
            words.append(f"refund released {self.refund_release.replace('_', ' ')}")
        return words


def rule_fee(outcome: Outcome, facts: TicketFacts) -> int:
    """A rule's service fee on a ticket: a share of what the buyer's own reasons return (SPEC
    §4), rounded down. The whole refund when every line is of a buyer-fault reason; else the
    buyer-fault lines only; nothing when none is."""
    if outcome.service_fee_percent is None:
        return 0
    buyer = [line for line in facts.lines if fault_of(line.reason) is Fault.buyer]
    if len(buyer) == len(facts.lines):
        base = facts.quoted_amount
    else:
        base = min(facts.quoted_amount, sum(line.amount for line in buyer))
    return percent_of(base, outcome.service_fee_percent)


def percent_of(amount: int, percent: int) -> int:
    """`percent` % of `amount` minor units, rounded down: never more than the share."""
    return amount * percent // 100


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str = Field("", max_length=200)
    when: str = Field(min_length=1, max_length=MAX_CONDITION_LENGTH)
    then: Outcome


class RuleSet(BaseModel):
    """A merchant's rules as one version; a ticket keeps the version it was opened under."""

    model_config = ConfigDict(frozen=True)

    version: str = Field(min_length=1, max_length=80)
    rules: list[Rule] = Field(default_factory=list, max_length=MAX_RULES)

    @model_validator(mode="after")
    def _ids_unique(self) -> RuleSet:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id} is used twice")
            seen.add(rule.id)
        return self


class LineFacts(BaseModel):
    line_id: str
    sku: str
    tags: list[str] = Field(default_factory=list)
    quantity: int
    # What this ticket refunds for the line, in minor units.
    amount: int
    reason: str


class TicketFacts(BaseModel):
    """Everything a condition may read, by the name it is read under."""

    type: str
    reason: str
    fault: str
    requested_amount: int
    quoted_amount: int
    currency: str
    lines: list[LineFacts]
    skus: list[str]
    tags: list[str]
    order_age_days: int
    shipped: bool
    delivered: bool
    # -1 while the order is not delivered.
    days_since_delivery: int
    channel: str
    payment_method: str
    opened_by: str
    evidence_count: int
    risk_level: str = "low"
    risk_reasons: list[str] = Field(default_factory=list)
    refunds_90d: int = 0
    watchlisted: bool = False


FACTS: Mapping[str, str] = MappingProxyType(
    {
        "type": "ticket type: refund_only, return_refund, exchange",
        "reason": "reason code, e.g. no_longer_needed, damaged_in_transit",
        "fault": "who is at fault for the reason: buyer or merchant",
        "requested_amount": "what the buyer asked for, minor units (the quote when not given)",
        "quoted_amount": "the most this ticket may refund, minor units",
        "currency": "ISO 4217 code of the order, e.g. CNY",
        "lines": "the ticket's lines: line_id, sku, tags, quantity, amount, reason",
        "skus": "the SKUs of the ticket's lines",
        "tags": "the product tags of the ticket's lines, together",
        "order_age_days": "whole days since the order was paid (or placed)",
        "shipped": "whether the order was shipped",
        "delivered": "whether the order was delivered",
        "days_since_delivery": "whole days since delivery; -1 while not delivered",
        "channel": "where the ticket came from: app, web, mini_program, support_chat, api",
        "payment_method": "how the order was paid: card, wallet, bank, ...",
        "opened_by": "who opened the ticket: buyer or support",
        "evidence_count": "how many evidence photos the buyer attached",
        "risk_level": "the buyer's risk: low, medium, high",
        "risk_reasons": "the reasons for the buyer's risk, in words",
        "refunds_90d": "the buyer's refunded tickets in the last 90 days",
        "watchlisted": "whether support put the buyer on the watchlist",
    }
)
assert set(FACTS) == set(TicketFacts.model_fields)


class RuleProblem(BaseModel):
    """Why a rule's condition was refused or could not be evaluated: where, and in words."""

    rule_id: str
    index: int
    code: str
    message: str
    line: int | None = None
    column: int | None = None


class ConditionError(ValueError):
    def __init__(self, problem: RuleProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


# Comprehension macros bind a name of their own: `lines.all(l, l.amount < 5000)`.
_BOUND = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")
_STRINGS = re.compile(r"""'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*\"""")
_POSITION = re.compile(r"<input>:(\d+):(\d+)")
# What CEL raises when a condition meets facts it cannot work on (no common base class).
_EVALUATION_ERRORS = (RuntimeError, TypeError, ValueError, ArithmeticError, KeyError, IndexError)


@functools.lru_cache(maxsize=4096)
def _compiled(condition: str) -> cel.Program:
    return cel.compile(condition)


def _where(condition: str, offset: int) -> tuple[int, int]:
    before = condition[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def _unknown_name(condition: str, name: str) -> tuple[int, int] | None:
    blanked = _STRINGS.sub(lambda found: " " * len(found.group()), condition)
    for found in re.finditer(rf"(?<![\w.])\s*\b{re.escape(name)}\b", blanked):
        return _where(condition, found.start() + (len(found.group()) - len(name)))
    return None


def compile_condition(rule: Rule, index: int) -> cel.Program:
    """The rule's condition, compiled; `ConditionError` with the line and column otherwise."""
    try:
        program = _compiled(rule.when)
    except (ValueError, RuntimeError) as error:
        text = str(error)
        where = _POSITION.search(text)
        line, column = (int(where.group(1)), int(where.group(2))) if where else (None, None)
        detail = text.split("ERROR: <input>:", 1)[-1].split("\n", 1)[0]
        detail = re.sub(r"^\d+:\d+: ", "", detail)
        raise ConditionError(
            RuleProblem(
                rule_id=rule.id,
                index=index,
                code="rule_syntax",
                message=f"rule {rule.id}: the condition does not compile: {detail}",
                line=line,
                column=column,
            )
        ) from error
    bound = _BOUND.findall(_STRINGS.sub('""', rule.when))
    if len(bound) > MAX_COMPREHENSIONS:
        raise ConditionError(
            RuleProblem(
                rule_id=rule.id,
                index=index,
                code="rule_too_complex",
                message=f"rule {rule.id}: a condition may use at most {MAX_COMPREHENSIONS} of "
                f"all, exists, exists_one, map and filter ({len(bound)} here)",
            )
        )
    for name in program.variables():
        if name in FACTS or name in bound:
            continue
        line, column = _unknown_name(rule.when, name) or (None, None)
        raise ConditionError(
            RuleProblem(
                rule_id=rule.id,
                index=index,
                code="rule_unknown_fact",
                message=f"rule {rule.id}: {name} is not a fact a rule can read "
                f"(facts: {', '.join(FACTS)})",
                line=line,
                column=column,
            )
        )
    return program


def check_rules(rules: RuleSet) -> list[RuleProblem]:
    """Every condition that does not compile or reads an unknown fact; empty when all are fine."""
    problems = []
    for index, rule in enumerate(rules.rules):
        try:
            compile_condition(rule, index)
        except ConditionError as error:
            problems.append(error.problem)
    return problems


class Decision(BaseModel):
    """The rule that fired on a ticket, what it decided and the facts its condition read."""

    rules_version: str
    rule_id: str
    rule_name: str
    index: int
    outcome: Outcome
    facts_read: dict[str, Any]
    words: str


class Verdict(BaseModel):
    """What a rule set decides for one ticket: the deciding rule, if any, and the rules passed
    over because their condition could not be evaluated on this ticket."""

    rules_version: str
    decision: Decision | None = None
    passed_over: list[RuleProblem] = Field(default_factory=list)

    def words(self) -> str:
        said = (
            self.decision.words if self.decision else "no rule of " + self.rules_version + " fired"
        )
        for problem in self.passed_over:
            said += f"; {problem.message}"
        return said


def _read(facts: dict[str, Any], names: list[str]) -> dict[str, Any]:
    return {name: facts[name] for name in names if name in FACTS}


def decide(rules: RuleSet, facts: TicketFacts) -> Verdict:
    """The first rule whose condition holds for `facts`; pure and deterministic."""
    values = facts.model_dump(mode="json")
    verdict = Verdict(rules_version=rules.version)
    for index, rule in enumerate(rules.rules):
        try:
            program = compile_condition(rule, index)
            result = program.execute(values)
        except ConditionError as error:
            verdict.passed_over.append(error.problem)
            continue
        except _EVALUATION_ERRORS as error:
            why = str(error).split("\n", 1)[0].split(". ", 1)[0]
            verdict.passed_over.append(_not_evaluated(rule, index, why))
            continue
        if not isinstance(result, bool):
            verdict.passed_over.append(
                _not_evaluated(rule, index, f"the condition gave {result!r}, not true or false")
            )
            continue
        if not result:
            continue
        read = _read(values, program.variables())
        shown = ", ".join(f"{name} = {_shown(value)}" for name, value in read.items())
        outcome = "; ".join(rule.then.describe(facts.currency, facts.quoted_amount))
        verdict.decision = Decision(
            rules_version=rules.version,
            rule_id=rule.id,
            rule_name=rule.name,
            index=index,
            outcome=rule.then,
            facts_read=read,
            words=f"rule {rule.id} ({rules.version}) fired on {shown or 'no facts'}: {outcome}",
        )
        break
    return verdict


def _not_evaluated(rule: Rule, index: int, why: str) -> RuleProblem:
    return RuleProblem(
        rule_id=rule.id,
        index=index,
        code="rule_not_evaluated",
        message=f"rule {rule.id} passed over: {why}",
    )


def _shown(value: Any) -> str:
    if isinstance(value, list) and len(value) > 5:
        return f"[{len(value)} items]"
    return repr(value) if isinstance(value, str) else str(value)
