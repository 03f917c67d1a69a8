"""Request and response bodies of the merchant rules endpoints (SPEC §5, §8).

A rule and the facts a dry run reads are the domain's models (domain.rules), taken here as a
caller may send them: numbers and flags exactly as the schema says (no `"5"` for 5, no `1` for
true), and every number, text and list of the facts bounded at the edge.
"""

from __future__ import annotations

import types
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    Strict,
    ValidationError,
    create_model,
    model_validator,
)

from api.schemas.base import AwareDateTime, RequestModel
from domain.bounds import MAX_LINE_QUANTITY, MAX_LINE_TAGS
from domain.money import MAX_ANY_AMOUNT
from domain.rules import (
    MAX_RULES,
    LineFacts,
    Outcome,
    Rule,
    RuleProblem,
    RuleSet,
    TicketFacts,
)
from domain.what_if import Comparison, WhatIfTotals

# A ticket names at most 100 lines (api.schemas.tickets.TicketCreate).
MAX_FACT_LINES = 100
MAX_FACT_TEXT = 200
MAX_FACT_ITEMS = MAX_FACT_LINES * MAX_LINE_TAGS
# What a rule set is called while it is only proposed (a PUT being checked, a dry run).
PROPOSED = "proposed"


def _plain(annotation: Any) -> Any:
    """`int` of `int`, `int | None` or `Annotated[int, ...] | None`."""
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = next(arg for arg in get_args(annotation) if arg is not type(None))
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _exact(model: type[BaseModel], **replaced: Any) -> Any:
    """`model` taking numbers and flags only as themselves; `replaced` names nested models."""
    fields: dict[str, Any] = {
        name: (Annotated[field.annotation, Strict()], field)
        for name, field in model.model_fields.items()
        if _plain(field.annotation) in (int, bool)
    }
    fields |= {
        name: (annotation, model.model_fields[name]) for name, annotation in replaced.items()
    }
    return create_model(f"{model.__name__}Body", __base__=model, **fields)


_Whole = Annotated[int, Field(strict=True, ge=-1, le=MAX_ANY_AMOUNT)]
_Text = Annotated[str, Field(max_length=MAX_FACT_TEXT)]
_BOUNDED: dict[Any, Any] = {
    int: _Whole,
    bool: Annotated[bool, Strict()],
    str: _Text,
    list[str]: Annotated[list[_Text], Field(max_length=MAX_FACT_ITEMS)],
}


def _bounded_facts(model: type[BaseModel], **replaced: Any) -> Any:
    """`model` with every fact bounded as the edge takes it, unknown fields refused."""
    fields: dict[str, Any] = {
        name: (replaced.get(name) or _BOUNDED[field.annotation], field)
        for name, field in model.model_fields.items()
    }
    return create_model(f"{model.__name__}Body", __base__=(model, RequestModel), **fields)


if TYPE_CHECKING:
    # Built from the domain's models at import; to a type checker, those models.
    OutcomeBody = Outcome
    RuleBody = Rule
    LineFactsBody = LineFacts
    FactsBody = TicketFacts
else:
    OutcomeBody = _exact(Outcome)
    RuleBody = _exact(Rule, then=OutcomeBody)
    LineFactsBody = _bounded_facts(
        LineFacts,
        tags=Annotated[list[_Text], Field(max_length=MAX_LINE_TAGS)],
        quantity=Annotated[int, Field(strict=True, ge=0, le=MAX_LINE_QUANTITY)],
    )
    FactsBody = _bounded_facts(
        TicketFacts, lines=Annotated[list[LineFactsBody], Field(max_length=MAX_FACT_LINES)]
    )


def _one_rule_set(rules: list[Rule]) -> list[Rule]:
    """The rule set's own checks (ids used once), as a refusal of the field."""
    try:
        RuleSet(version=PROPOSED, rules=rules)
    except ValidationError as error:
        raise ValueError(error.errors()[0]["msg"].removeprefix("Value error, ")) from None
    return rules


Rules = Annotated[list[RuleBody], Field(max_length=MAX_RULES), AfterValidator(_one_rule_set)]


class RulesUpdate(RequestModel):
    rules: Rules = Field(
        description="in order: the first rule whose condition holds decides; `[]` switches "
        "rules off for tickets opened from now on"
    )


class MerchantRulesView(BaseModel):
    merchant_id: str
    version: str | None = Field(
        description="what new tickets record, `<merchant>-rules-v<n>`; null: never set"
    )
    revision: int = Field(description="versions stored for this merchant so far")
    rules: list[Rule]
    updated_by: str | None
    updated_at: datetime | None
    facts: dict[str, str] = Field(description="every fact a condition may read, in words")


class RulesTrial(RequestModel):
    """A dry run of rules on one ticket: a stored ticket's facts, or facts sent."""

    rules: Rules | None = Field(
        None, description="the rules to try; the merchant's current rules when left out"
    )
    ticket_no: str | None = Field(
        None, min_length=1, max_length=32, description="a ticket of the merchant"
    )
    facts: FactsBody | None = Field(None, description="the facts of a ticket that need not exist")

    @model_validator(mode="after")
    def _one_source(self) -> RulesTrial:
        if (self.ticket_no is None) == (self.facts is None):
            raise ValueError("send exactly one of `ticket_no` and `facts`")
        return self


class TrialDecision(BaseModel):
    rule_id: str
    rule_name: str
    index: int = Field(description="the rule's place in the rules, from 0")
    outcome: Outcome
    facts_read: dict[str, Any] = Field(description="the facts the rule's condition read")
    words: str


class TrialResult(BaseModel):
    rules_version: str = Field(description="`<merchant>-rules-v<n>`, or `proposed`")
    fired: bool
    decision: TrialDecision | None = Field(description="the rule that fired; null: none did")
    passed_over: list[RuleProblem] = Field(
        description="rules whose condition could not be evaluated on these facts"
    )
    words: str
    facts: TicketFacts = Field(description="the facts the rules were tried on")


class WhatIfStart(RequestModel):
    """Proposed rules and a period of the merchant's tickets to re-decide under them."""

    rules: Rules | None = Field(
        None, description="the proposed rules; the merchant's current rules when left out"
    )
    period_from: AwareDateTime = Field(description="tickets opened from this moment")
    period_to: AwareDateTime | None = Field(
        None, description="...until before this moment; now when left out (never later)"
    )


class WhatIfView(BaseModel):
    run_id: str
    merchant_id: str
    status: str = Field(description="`running` until every ticket is re-decided, `completed`")
    done: int = Field(description="tickets re-decided so far")
    total: int | None = Field(description="tickets in the period; null until counted")
    period_from: datetime
    period_to: datetime
    rules: list[Rule]
    totals: WhatIfTotals | None = Field(
        description="predicted and happened side by side, over the tickets done so far"
    )
    created_at: datetime
    finished_at: datetime | None
    items: list[Comparison] = Field(description="a page of tickets, in opening order")
    next_cursor: str | None
