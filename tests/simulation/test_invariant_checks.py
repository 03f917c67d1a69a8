"""The simulation's checks can fail: each one, given a world that breaks its invariant, says so
(and says nothing of the same world kept whole)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from persistence.models import Refund
from tests.simulation.answers import Sent, answer_violations, effect_violations
from tests.simulation.invariants import deadline_violations, jump_violations
from tests.simulation.money import booking_violations, cap_violations, provider_violations
from tests.simulation.moves import Move
from tests.simulation.records import Entry, Ledger, Row
from tests.simulation.world import MERCHANT, SimOrder
from tests.support.sandbox_state import ProviderMovement

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
NO = "AS20261201-000001"
REVIEWED = Entry(1, "system", None, "submitted_for_review")
APPROVED = Entry(2, "merchant", "m-1001", "approved_by_merchant")


def row(status: str = "awaiting_merchant_review", **fields: Any) -> Row:
    values: dict[str, Any] = {
        "ticket_no": NO,
        "order_id": "SIM-1",
        "warehouse_id": None,
        "status": status,
        "version": 1,
        "next_actor": "merchant",
        "deadline_at": NOW + timedelta(hours=48),
        "on_timeout": "approve automatically (seller timeout)",
        "refunded_amount": 0,
        "entries": (REVIEWED,),
    }
    return Row(**{**values, **fields})


def sent(status: int, code: str | None = None, *, stale: bool = False, **answer: Any) -> Sent:
    move = Move(MERCHANT, "approve", {}, key="k1", stale=stale)
    return Sent(move, NO, status, code, answer, replayed=False)


APPROVED_ANSWER: dict[str, Any] = {
    "version": 2,
    "timeline": [{"seq": 2, "actor_role": "merchant", "actor_id": "m-1001"}],
}


def test_an_action_answered_200_must_be_in_the_timeline_it_returns() -> None:
    assert answer_violations(sent(200, **APPROVED_ANSWER), row()) == []
    assert answer_violations(sent(200, version=2, timeline=[]), row())
    assert answer_violations(sent(200, stale=True, **APPROVED_ANSWER), row())
    assert answer_violations(sent(409, "illegal_transition"), row()) == []
    assert answer_violations(sent(500, "internal"), row())


def test_an_action_refused_must_leave_nothing_and_one_key_counts_once() -> None:
    after = row(version=2, entries=(REVIEWED, APPROVED))
    twice = [sent(200, **APPROVED_ANSWER), sent(200, **APPROVED_ANSWER)]
    assert effect_violations(twice, row(), after) == []
    assert effect_violations([sent(409, "action_in_progress")], row(), after)
    assert effect_violations([sent(200, **APPROVED_ANSWER)], row(), row())


def test_an_open_ticket_waits_on_a_future_deadline_or_on_support() -> None:
    assert deadline_violations({NO: row()}, NOW) == []
    assert deadline_violations({NO: row(deadline_at=NOW - timedelta(seconds=1))}, NOW)
    assert deadline_violations({NO: row("under_arbitration", deadline_at=None)}, NOW) == []
    assert deadline_violations({NO: row("awaiting_buyer_return", deadline_at=None)}, NOW)
    assert deadline_violations({NO: row("completed", deadline_at=None)}, NOW) == []


def test_a_jump_fires_the_deadlines_it_passes_and_nothing_else() -> None:
    later = NOW + timedelta(hours=49)
    short = NOW + timedelta(hours=3)
    assert jump_violations({NO: row()}, {NO: row(version=2)}, later, later) == []
    assert jump_violations({NO: row()}, {NO: row()}, later, later)
    assert jump_violations({NO: row()}, {NO: row(version=2)}, short, short)
    assert jump_violations({NO: row()}, {NO: row(version=2)}, NOW, NOW, acted=NO) == []
    # Due only after the jump, while the world came to rest: acted or not, both are right.
    assert jump_violations({NO: row()}, {NO: row()}, short, later) == []
    assert jump_violations({NO: row()}, {NO: row(version=2)}, short, later) == []


def refund(amount: int = 3000, status: str = "succeeded", **fields: Any) -> Refund:
    values: dict[str, Any] = {
        "refund_id": 1,
        "ticket_no": NO,
        "order_id": "SIM-1",
        "seq": 1,
        "idempotency_key": f"{NO}-R1",
        "currency": "CNY",
        "amount": amount,
        "destination": "original",
        "provider": "sandbox",
        "provider_refund_id": "re_1",
        "status": status,
    }
    return Refund(**{**values, **fields})


def ledger(*refunds: Refund, booked: int = 3000) -> Ledger:
    return Ledger(list(refunds), {"SIM-1": booked}, {}, {})


def at_provider(amount: int = 3000, key: str = f"{NO}-R1", id: str = "re_1") -> ProviderMovement:
    return ProviderMovement(id, key, "pay_1", amount, "CNY", "succeeded")


def test_the_ledger_and_the_provider_agree_on_every_refund() -> None:
    assert provider_violations(ledger(refund()), [at_provider()]) == []
    assert provider_violations(ledger(refund()), [at_provider(amount=2999)])
    assert provider_violations(ledger(refund()), [at_provider(), at_provider(key="x", id="re_2")])
    assert provider_violations(ledger(refund()), [])


def test_refunds_never_exceed_what_was_paid_and_totals_follow_them() -> None:
    order = SimOrder("SIM-1", "buyer:b-1", "pay_1", 3000, {"L1": 2}, shipped=False)
    assert cap_violations([order], ledger(refund()), [at_provider()]) == []
    second = refund(1, seq=2, idempotency_key=f"{NO}-R2", ticket_no="AS20261201-000002")
    assert cap_violations([order], ledger(refund(), second), [at_provider()])
    settled = row(
        "completed", refunded_amount=3000, entries=(Entry(3, "system", None, "refund_settled"),)
    )
    assert booking_violations(ledger(refund()), {NO: settled}) == []
    assert booking_violations(ledger(refund(), booked=0), {NO: settled})
    assert booking_violations(ledger(refund()), {NO: row("completed", refunded_amount=3000)})
