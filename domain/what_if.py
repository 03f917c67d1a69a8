"""What a proposed rule set would have done to a merchant's past tickets, next to what happened.

A ticket is re-decided from the facts it opened with and the buyer's risk its workflow assessed,
by the same `domain.rules.decide` and the same precedence the ticket workflow applies: the buyer's
high risk or watchlisting, a disputed reason and the second-approval threshold win over every
rule. Where the proposed rules would leave a ticket to the merchant's review, the merchant's real
answer is taken as the answer it would have given again.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from domain.money import format_minor
from domain.reasons import DISPUTED_REASONS
from domain.rules import RefundRelease, RuleSet, TicketFacts, decide, percent_of, rule_fee
from domain.tickets import Destination, TicketType


class Happened(BaseModel):
    """One past ticket as it really went, read from its timeline, refunds and parcels."""

    ticket_no: str
    type: str
    status: str
    destination: str
    opened_at: datetime
    rule_id: str | None = None
    auto_approved: bool = False
    reviewed: bool = False
    kept_item: bool = False
    refunded: int = 0
    bonus: int = 0
    refunded_at: datetime | None = None
    # When the return's parcel was first scanned, delivered, and its goods inspected.
    first_scan_at: datetime | None = None
    delivered_at: datetime | None = None
    inspected_at: datetime | None = None


class Effect(BaseModel):
    """What a ticket's rules did (happened) or would do (predicted), in comparable terms."""

    rule_id: str | None = None
    auto_approved: bool = False
    reviewed: bool = False
    kept_item: bool = False
    store_credit: bool = False
    bonus: int = 0
    refunded: int = 0
    refunded_at: datetime | None = None
    release: RefundRelease | None = None


class Comparison(BaseModel):
    ticket_no: str
    opened_at: datetime
    currency: str
    # False: the ticket opened before tickets recorded their facts; it is not re-decided.
    re_decided: bool
    predicted: Effect
    happened: Effect
    changed: bool
    words: str


class Totals(BaseModel):
    """Sums over tickets, in minor units per currency for money."""

    tickets: int = 0
    auto_approved: int = 0
    reviewed: int = 0
    kept_items: int = 0
    store_credit: int = 0
    refunded: dict[str, int] = Field(default_factory=dict)
    bonus: dict[str, int] = Field(default_factory=dict)

    def add(self, effect: Effect, currency: str) -> None:
        self.tickets += 1
        self.auto_approved += effect.auto_approved
        self.reviewed += effect.reviewed
        self.kept_items += effect.kept_item
        self.store_credit += effect.store_credit
        if effect.refunded:
            self.refunded[currency] = self.refunded.get(currency, 0) + effect.refunded
        if effect.bonus:
            self.bonus[currency] = self.bonus.get(currency, 0) + effect.bonus

    def merged(self, other: Totals) -> Totals:
        total = self.model_copy(deep=True)
        for name in ("tickets", "auto_approved", "reviewed", "kept_items", "store_credit"):
            setattr(total, name, getattr(self, name) + getattr(other, name))
        for name in ("refunded", "bonus"):
            mine: dict[str, int] = getattr(total, name)
            for currency, amount in getattr(other, name).items():
                mine[currency] = mine.get(currency, 0) + amount
        return total


class WhatIfTotals(BaseModel):
    predicted: Totals = Field(default_factory=Totals)
    happened: Totals = Field(default_factory=Totals)
    changed: int = 0
    not_re_decided: int = 0

    def merged(self, other: WhatIfTotals) -> WhatIfTotals:
        return WhatIfTotals(
            predicted=self.predicted.merged(other.predicted),
            happened=self.happened.merged(other.happened),
            changed=self.changed + other.changed,
            not_re_decided=self.not_re_decided + other.not_re_decided,
        )


def automatic_blockers(facts: TicketFacts, threshold: int) -> list[str]:
    """Why nothing may be approved automatically (SPEC §3, §5): as the ticket workflow's
    automation says, from the facts it assessed."""
    blockers = []
    if facts.watchlisted:
        blockers.append("buyer on the watchlist")
    if facts.risk_level == "high":
        blockers.append("buyer risk high")
    if facts.reason in DISPUTED_REASONS:
        blockers.append(f"disputed reason {facts.reason} needs manual review")
    if facts.quoted_amount > threshold:
        blockers.append(
            f"{format_minor(facts.quoted_amount, facts.currency)} is above the second-approval "
            f"threshold of {format_minor(threshold, facts.currency)}"
        )
    return blockers


def happened_effect(happened: Happened) -> Effect:
    return Effect(
        rule_id=happened.rule_id,
        auto_approved=happened.auto_approved,
        reviewed=happened.reviewed,
        kept_item=happened.kept_item,
        store_credit=happened.destination == Destination.balance and happened.refunded > 0,
        bonus=happened.bonus,
        refunded=happened.refunded,
        refunded_at=happened.refunded_at,
    )


def _release_moment(release: RefundRelease, happened: Happened) -> datetime | None:
    """When the money would have gone back: the moment of the ticket's real journey the rule
    names (None if the ticket never got there)."""
    return {
        RefundRelease.on_approval: happened.opened_at,
        RefundRelease.on_first_scan: happened.first_scan_at,
        RefundRelease.on_delivery: happened.delivered_at,
        RefundRelease.after_inspection: happened.inspected_at,
    }[release]


def compare(
    rules: RuleSet, facts: TicketFacts | None, threshold: int, happened: Happened
) -> Comparison:
    """Re-decide one past ticket under `rules` and set the prediction next to what happened."""
    real = happened_effect(happened)

    def compared(predicted: Effect, words: str, *, re_decided: bool = True) -> Comparison:
        changed = predicted.model_dump(exclude={"refunded_at", "release"}) != real.model_dump(
            exclude={"refunded_at", "release"}
        )
        return Comparison(
            ticket_no=happened.ticket_no,
            opened_at=happened.opened_at,
            currency=facts.currency if facts else "",
            re_decided=re_decided,
            predicted=predicted,
            happened=real,
            changed=changed,
            words=words,
        )

    if facts is None:
        return compared(
            real,
            "opened before tickets recorded their facts: not re-decided",
            re_decided=False,
        )
    if facts.type == TicketType.refund_only and not facts.shipped:
        return compared(real, "a refund before shipment is approved by rule: no merchant rule")
    verdict = decide(rules, facts)
    decision = verdict.decision
    outcome = decision.outcome if decision else None
    rule_id = decision.rule_id if decision else None
    blockers = automatic_blockers(facts, threshold)
    if outcome is None or not outcome.approve or blockers:
        # Left to the merchant's review: its real answer stands.
        words = verdict.words()
        if outcome is not None and outcome.approve:
            words += "; not approved automatically: " + "; ".join(blockers)
        if outcome is not None and outcome.manual_review and happened.auto_approved:
            words += "; the seller timeout would have escalated to support instead"
            return compared(Effect(rule_id=rule_id, reviewed=True), words)
        return compared(real.model_copy(update={"rule_id": rule_id, "reviewed": True}), words)
    fee = rule_fee(outcome, facts)
    refund = facts.quoted_amount - fee
    store_credit = happened.destination == Destination.balance
    bonus = (
        percent_of(refund, outcome.store_credit_bonus_percent)
        if store_credit and outcome.store_credit_bonus_percent
        else 0
    )
    is_return = facts.type == TicketType.return_refund
    kept = outcome.keep_item and is_return
    release = (
        RefundRelease.on_approval
        if facts.type == TicketType.refund_only or kept
        else outcome.refund_release or RefundRelease.after_inspection
    )
    if not is_return and facts.type != TicketType.refund_only:
        release = RefundRelease.after_inspection
    # The money goes back at the moment the rule names, if the ticket's journey got there.
    moment = _release_moment(release, happened)
    paid = moment is not None and facts.type != TicketType.exchange
    predicted = Effect(
        rule_id=rule_id,
        auto_approved=True,
        kept_item=kept,
        store_credit=store_credit and paid,
        bonus=bonus if paid else 0,
        refunded=refund if paid else 0,
        refunded_at=moment if paid else None,
        release=release,
    )
    return compared(predicted, verdict.words())
