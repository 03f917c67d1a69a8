"""Merchant rules in pure domain code: conditions checked with their position, the first true
rule deciding, the facts it read, and the facts a ticket opens with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from domain.orders import OrderLine, OrderSnapshot, OrderStatus, Payment
from domain.refund_terms import PriorRefunds, RefundPolicy, RefundRequest, RequestedLine
from domain.refunds import quote_refund
from domain.rules import (
    FACTS,
    LineFacts,
    Outcome,
    Rule,
    RuleSet,
    TicketFacts,
    check_rules,
    decide,
    percent_of,
    rule_fee,
)
from domain.ticket_facts import opening_facts
from tests.support.rule_facts import sample_facts

OPENED = datetime(2026, 12, 1, 12, tzinfo=UTC)


def facts(**overrides: Any) -> TicketFacts:
    """A return of a clearance mug of 40.00, delivered 2 days ago, paid by card 6 days ago."""
    return sample_facts(amount=4000, sku="MUG", order_age_days=6, **overrides)


def rules(*conditions: str) -> RuleSet:
    return RuleSet(
        version="m-1-rules-v1",
        rules=[
            Rule(id=f"r{index}", when=when, then=Outcome(approve=True))
            for index, when in enumerate(conditions, start=1)
        ],
    )


def test_a_condition_that_does_not_compile_is_refused_with_its_position() -> None:
    [problem] = check_rules(rules("type == 'return_refund' &&\n  quoted_amount <"))
    assert problem.code == "rule_syntax"
    assert (problem.rule_id, problem.index, problem.line) == ("r1", 0, 2)
    assert problem.column is not None and problem.column >= 17


def test_an_unknown_fact_is_refused_where_it_is_written() -> None:
    [problem] = check_rules(rules("type == 'x'", 'reason == "other" &&\n  colour == "red"'))
    assert problem.code == "rule_unknown_fact"
    assert (problem.rule_id, problem.line, problem.column) == ("r2", 2, 3)
    assert "colour is not a fact" in problem.message


def test_a_name_inside_a_string_or_bound_by_a_macro_is_no_fact() -> None:
    assert check_rules(rules('lines.all(l, l.amount < 5000 && "colour" != l.sku)')) == []
    assert check_rules(rules("lines.exists(x, 'fragile' in x.tags)")) == []


def test_every_fact_can_be_read() -> None:
    conditions = [f"{name} == {name}" for name in FACTS]
    verdict = decide(rules(" && ".join(conditions)), facts())
    assert verdict.decision is not None
    assert set(verdict.decision.facts_read) == set(FACTS)


def test_the_first_true_rule_decides_and_names_the_facts_it_read() -> None:
    verdict = decide(
        rules("channel == 'web'", "quoted_amount < 5000 && 'clearance' in tags", "true"),
        facts(),
    )
    assert verdict.decision is not None
    assert verdict.decision.rule_id == "r2"
    assert verdict.decision.facts_read == {"quoted_amount": 4000, "tags": ["clearance"]}
    assert verdict.decision.words.startswith("rule r2 (m-1-rules-v1) fired on quoted_amount = 4000")


def test_no_rule_true_decides_nothing() -> None:
    verdict = decide(rules("risk_level == 'high'"), facts())
    assert verdict.decision is None
    assert verdict.words() == "no rule of m-1-rules-v1 fired"


@pytest.mark.parametrize(
    "condition", ['quoted_amount > "much"', "quoted_amount / 0 > 1", "quoted_amount + 1"]
)
def test_a_condition_that_fails_on_this_ticket_is_passed_over(condition: str) -> None:
    verdict = decide(rules(condition, "true"), facts())
    assert verdict.decision is not None and verdict.decision.rule_id == "r2"
    assert [problem.rule_id for problem in verdict.passed_over] == ["r1"]
    assert verdict.passed_over[0].code == "rule_not_evaluated"
    assert "rule r1 passed over" in verdict.words()


def test_the_same_facts_always_decide_the_same() -> None:
    rule_set = rules("refunds_90d > 2", "days_since_delivery <= 3 && payment_method == 'card'")
    first = decide(rule_set, facts(refunds_90d=1))
    assert all(decide(rule_set, facts(refunds_90d=1)) == first for _ in range(20))
    assert decide(rule_set, facts(refunds_90d=3)).decision.rule_id == "r1"  # type: ignore[union-attr]


def test_shares_of_money_round_down_to_the_minor_unit() -> None:
    assert percent_of(30550, 10) == 3055
    assert percent_of(999, 15) == 149  # 149.85
    assert percent_of(1, 99) == 0
    assert percent_of(12345, 100) == 12345


def test_an_outcome_must_decide_something_and_not_contradict_itself() -> None:
    with pytest.raises(ValidationError, match="at least one field"):
        Outcome()
    with pytest.raises(ValidationError, match="at least one field"):
        Outcome(approve=False)
    with pytest.raises(ValidationError, match="both approve"):
        Outcome(approve=True, manual_review=True)
    with pytest.raises(ValidationError):
        Outcome(service_fee_percent=101)
    with pytest.raises(ValidationError):
        Outcome.model_validate({"approve": True, "refund_everything": True})


def test_rule_ids_are_unique_in_a_set() -> None:
    rule = Rule(id="same", when="true", then=Outcome(approve=True))
    with pytest.raises(ValidationError, match="used twice"):
        RuleSet(version="v", rules=[rule, rule])


def test_a_ticket_opens_with_the_facts_of_its_order_and_quote() -> None:
    order = OrderSnapshot(
        order_id="O-1",
        buyer_id="b-1",
        merchant_id="m-1",
        currency="CNY",
        lines=[
            OrderLine(
                line_id="L1",
                sku="MUG",
                title="Mug",
                quantity=2,
                unit_price=2000,
                tags=("clearance", "fragile"),
            ),
            OrderLine(line_id="L2", sku="CUP", title="Cup", quantity=1, unit_price=900),
        ],
        shipping_fee=500,
        payment=Payment(
            provider="sandbox",
            reference="p-1",
            method="wallet",
            paid_total=5400,
            paid_at=OPENED - timedelta(days=9, hours=1),
        ),
        status=OrderStatus.delivered,
        shipped_at=OPENED - timedelta(days=8),
        delivered_at=OPENED - timedelta(days=2, hours=23),
    )
    quote = quote_refund(
        order,
        PriorRefunds(),
        RefundRequest(lines=[RequestedLine(line_id="L1", quantity=1)], reason_code="other"),
        RefundPolicy(),
    )
    opened = opening_facts(
        order,
        quote,
        ticket_type="return_refund",
        reason_code="other",
        line_reasons={},
        requested_amount=None,
        channel="mini_program",
        opened_by="buyer",
        evidence_count=2,
        opened_at=OPENED,
    )
    assert opened.lines == [
        LineFacts(
            line_id="L1",
            sku="MUG",
            tags=["clearance", "fragile"],
            quantity=1,
            amount=2000,
            reason="other",
        )
    ]
    assert (opened.requested_amount, opened.quoted_amount) == (quote.total, quote.total)
    assert (opened.order_age_days, opened.days_since_delivery) == (9, 2)
    assert (opened.fault, opened.payment_method, opened.channel) == (
        "buyer",
        "wallet",
        "mini_program",
    )
    assert opened.skus == ["MUG"] and opened.tags == ["clearance", "fragile"]
    assert opened.risk_level == "low"  # the workflow adds the buyer's risk


def test_a_condition_of_more_than_two_list_macros_is_refused() -> None:
    nested = "tags.all(a, tags.all(b, tags.exists(c, a + b + c != '')))"
    [problem] = check_rules(rules(nested))
    assert problem.code == "rule_too_complex"
    assert check_rules(rules("tags.all(a, tags.exists(b, a != b))")) == []
    assert check_rules(rules("'x.all(a, ' in tags || 'y.map(b, ' in tags")) == []


def test_a_rule_fee_falls_on_the_lines_of_buyer_fault_reasons_only() -> None:
    outcome = Outcome(approve=True, service_fee_percent=10)
    mug = LineFacts(line_id="L1", sku="MUG", quantity=1, amount=4000, reason="damaged_in_transit")
    shirt = LineFacts(
        line_id="L2", sku="TEE", quantity=1, amount=2555, reason="wrong_size_or_model"
    )
    both = facts(lines=[mug, shirt], quoted_amount=6555 + 800)  # shipping refunded: the mug
    assert rule_fee(outcome, both) == 255  # 10 % of the shirt's 25.55, rounded down
    assert rule_fee(outcome, facts(lines=[shirt], quoted_amount=2555)) == 255
    assert rule_fee(outcome, facts(lines=[mug], quoted_amount=4800)) == 0
    assert rule_fee(Outcome(approve=True), both) == 0
