"""A merchant's rules on the time-skipping server: each outcome, decided when the ticket opens,
named with its rule, version and facts; the buyer's risk and the threshold still win."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.testing import WorkflowEnvironment

import contracts as c
from domain.tickets import TicketStatus
from tests.workflows.fakes import (
    AMOUNT,
    FakeProvider,
    approve,
    events,
    recorded,
    start,
    statuses,
    until_recorded,
    until_status,
    worker,
)
from tests.workflows.ruled import RETURN, facts, rule, ruled
from workflows.ticket import TicketWorkflow

S = TicketStatus
CHEAP = 'quoted_amount < 50000 && "clearance" in tags'


def decided(provider: FakeProvider) -> dict[str, Any]:
    data = recorded(provider, "rule_decided").data
    assert data is not None
    return data


async def test_a_rule_approves_a_return_at_once_naming_rule_version_and_facts(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(
            time_env,
            queue,
            **ruled(
                rule("vip", "risk_level == 'high'", manual_review=True),
                rule("cheap", CHEAP, approve=True),
            ),
        )
        await until_status(time_env, handle, S.awaiting_buyer_return)
    approval = recorded(provider, "approved_by_merchant_rule")
    assert approval.actor_role == "system"
    assert "rule cheap (m-1-rules-v1)" in approval.reason
    data = decided(provider)
    assert data["rules"]["decision"]["rule_id"] == "cheap"
    assert data["rules"]["decision"]["facts_read"] == {
        "quoted_amount": AMOUNT,
        "tags": ["clearance"],
    }
    assert data["facts"]["risk_level"] == "low"
    # Nothing waited for the merchant: no review state was ever entered.
    assert S.awaiting_merchant_review not in statuses(provider)


async def test_high_risk_wins_over_a_rule_that_approves(time_env: WorkflowEnvironment) -> None:
    provider = FakeProvider(risk=c.RiskAssessment(level="high", reasons=["7 refunds in 90 days"]))
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **ruled(rule("cheap", CHEAP, approve=True)))
        await until_status(time_env, handle, S.awaiting_merchant_review)
        state = await handle.query(TicketWorkflow.state)
    review = recorded(provider, "submitted_for_review")
    assert "rule cheap (m-1-rules-v1) approves automatically, but not this ticket" in review.reason
    assert "buyer risk high" in review.reason
    assert state["on_timeout"].startswith("escalate to support")
    assert "approved_by_merchant_rule" not in events(provider)


async def test_a_rule_above_the_threshold_still_waits_for_review(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    policy_threshold = AMOUNT - 1
    options = ruled(rule("all", "true", approve=True))
    options["policy"] = options["policy"].model_copy(
        update={"second_approval_threshold": policy_threshold}
    )
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **options)
        await until_status(time_env, handle, S.awaiting_merchant_review)
    assert (
        "above the second-approval threshold" in recorded(provider, "submitted_for_review").reason
    )


async def test_manual_review_stops_the_seller_timeout_from_approving(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(
            time_env, queue, **ruled(rule("card", "payment_method == 'card'", manual_review=True))
        )
        await until_status(time_env, handle, S.awaiting_merchant_review)
        state = await handle.query(TicketWorkflow.state)
        assert "rule card (m-1-rules-v1) sends the ticket to manual review" in state["on_timeout"]
        await time_env.sleep(timedelta(hours=49))
        await until_status(time_env, handle, S.under_arbitration)
    escalation = recorded(provider, "escalated_instead_of_auto_approval")
    assert "sends the ticket to manual review" in escalation.reason
    assert "approved_automatically" not in events(provider)


async def test_keep_the_item_refunds_a_return_without_the_goods(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(settle_after_polls=1)
    async with worker(time_env, provider) as queue:
        handle = await start(
            time_env, queue, **ruled(rule("cheap", CHEAP, approve=True, keep_item=True))
        )
        result = await handle.result()
    assert result.status is S.completed
    assert result.refunded_amount == AMOUNT
    approval = recorded(provider, "approved_by_merchant_rule")
    assert approval.to_status is S.refunding
    assert S.awaiting_buyer_return not in statuses(provider)
    assert "the buyer keeps the item" in approval.reason
    assert len(provider.grants) == 1


async def test_keep_the_item_applies_when_the_merchant_approves(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider(settle_after_polls=1)
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **ruled(rule("cheap", CHEAP, keep_item=True)))
        await until_status(time_env, handle, S.awaiting_merchant_review)
        await approve(handle)
        result = await handle.result()
    assert result.status is S.completed
    assert S.awaiting_buyer_return not in statuses(provider)
    assert "no return" in recorded(provider, "approved_by_merchant").reason


async def test_the_rule_fee_and_warehouse_apply_to_the_seller_timeout(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    fee_rule = rule("fee", "fault == 'buyer'", service_fee_percent=15, warehouse_id="wh-east")
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **ruled(fee_rule))
        await until_status(time_env, handle, S.awaiting_merchant_review)
        await time_env.sleep(timedelta(hours=49))
        await until_status(time_env, handle, S.awaiting_buyer_return)
    approval = recorded(provider, "approved_automatically")
    # 15 % of 305.00, rounded down to the fen: 45.75.
    assert approval.service_fee == AMOUNT * 15 // 100 == 4575
    assert approval.warehouse_id == "wh-east"
    assert "returned to warehouse wh-east (rule fee (m-1-rules-v1))" in approval.reason


async def test_no_fee_for_a_merchant_fault_even_when_a_rule_asks(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    options = ruled(rule("fee", "true", approve=True, service_fee_percent=15))
    base = facts()
    [line] = base.lines
    options["facts"] = facts(
        reason="quality_issue",
        fault="merchant",
        lines=[line.model_copy(update={"reason": "quality_issue"})],
    )
    options["reason_code"] = "quality_issue"
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **options)
        await until_status(time_env, handle, S.awaiting_buyer_return)
    assert recorded(provider, "approved_by_merchant_rule").service_fee == 0


async def test_a_rule_that_cannot_be_evaluated_is_passed_over_and_named(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    broken = rule("broken", 'quoted_amount > "a lot"', approve=True)
    async with worker(time_env, provider) as queue:
        handle = await start(
            time_env, queue, **ruled(broken, rule("card", "payment_method == 'card'", approve=True))
        )
        await until_status(time_env, handle, S.awaiting_buyer_return)
    data = decided(provider)
    assert data["rules"]["decision"]["rule_id"] == "card"
    assert [p["rule_id"] for p in data["rules"]["passed_over"]] == ["broken"]
    assert "rule broken passed over" in recorded(provider, "rule_decided").reason


async def test_no_rule_firing_leaves_the_review_as_before(time_env: WorkflowEnvironment) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(
            time_env, queue, **ruled(rule("web", "channel == 'web'", approve=True))
        )
        await until_status(time_env, handle, S.awaiting_merchant_review)
        state = await handle.query(TicketWorkflow.state)
    assert decided(provider)["rules"]["decision"] is None
    assert "no rule of m-1-rules-v1 fired" in recorded(provider, "rule_decided").reason
    assert state["on_timeout"] == "approve automatically (seller timeout)"


async def test_a_ticket_decides_by_the_rules_it_opened_under(time_env: WorkflowEnvironment) -> None:
    """The rules travel in the ticket's input: the version a ticket opened under decides it,
    whatever the merchant stores later (new tickets get the new version from the API)."""
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        old = await start(
            time_env,
            queue,
            **ruled(rule("web", "channel == 'web'", approve=True), version="m-1-rules-v1"),
        )
        new = await start(
            time_env,
            queue,
            **ruled(rule("app", "channel == 'app'", approve=True), version="m-1-rules-v2"),
        )
        await until_status(time_env, old, S.awaiting_merchant_review)
        await until_status(time_env, new, S.awaiting_buyer_return)
    versions = {
        t.ticket_no: t.data["rules"]["rules_version"]
        for t in provider.transitions
        if t.event == "rule_decided" and t.data
    }
    assert versions == {old.id: "m-1-rules-v1", new.id: "m-1-rules-v2"}


async def test_a_ticket_without_rules_records_no_rule_step(time_env: WorkflowEnvironment) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **RETURN, facts=facts())
        await until_recorded(time_env, provider, "submitted_for_review")
        await until_status(time_env, handle, S.awaiting_merchant_review)
    assert "rule_decided" not in events(provider)


# --- evidence before review -------------------------------------------------------------------

EVIDENCE = rule("photos", "reason == 'no_longer_needed'", require_evidence=2, approve=True)


async def add_photos(handle: Any, *urls: str) -> c.ActionResult:
    return await handle.execute_update(
        TicketWorkflow.evidence, c.Evidence(actor="buyer", actor_id="b-1", photos=list(urls))
    )


async def test_a_rule_asks_for_evidence_and_the_review_waits_for_it(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **ruled(EVIDENCE))
        await until_status(time_env, handle, S.awaiting_buyer_evidence)
        state = await handle.query(TicketWorkflow.state)
        assert state["next_actor"] == "buyer"
        assert state["on_timeout"] == "close the ticket (no evidence)"
        await add_photos(handle, "https://img.example/1.jpg")
        await until_status(time_env, handle, S.awaiting_buyer_evidence)
        still = await handle.query(TicketWorkflow.state)
        assert still["deadline_at"] == state["deadline_at"]
        await add_photos(handle, "https://img.example/2.jpg")
        await until_status(time_env, handle, S.awaiting_buyer_return)
    added = [t for t in provider.transitions if t.event == "evidence_added"]
    assert [t.evidence for t in added] == [
        ["https://img.example/1.jpg"],
        ["https://img.example/2.jpg"],
    ]
    assert "1 more needed" in added[0].reason
    # With the photos in, the rule's approval applies as at opening.
    assert recorded(provider, "approved_by_merchant_rule").from_status is S.awaiting_buyer_evidence


async def test_no_evidence_within_the_deadline_closes_the_ticket(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **ruled(EVIDENCE))
        await until_status(time_env, handle, S.awaiting_buyer_evidence)
        await time_env.sleep(timedelta(days=3, minutes=1))
        result = await handle.result()
    assert result.status is S.closed
    assert (
        "did not add the evidence photos asked for within 3 days"
        in recorded(provider, "evidence_timeout").reason
    )


async def test_photos_attached_at_opening_count_towards_the_evidence(
    time_env: WorkflowEnvironment,
) -> None:
    provider = FakeProvider()
    options = ruled(EVIDENCE)
    options["facts"] = facts(evidence_count=2)
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **options)
        await until_status(time_env, handle, S.awaiting_buyer_return)
    assert S.awaiting_buyer_evidence not in statuses(provider)


async def test_the_store_credit_bonus_goes_with_the_grant_and_shows_for_support(
    time_env: WorkflowEnvironment,
) -> None:
    """The grant books the bonus on a balance credit (tests/api/test_rule_outcomes.py checks
    the ledger's entries); the ticket asks for it and support reads the rule in the UI."""
    provider = FakeProvider(settle_after_polls=1)
    bonus = rule(
        "credit", "fault == 'buyer'", approve=True, keep_item=True, store_credit_bonus_percent=10
    )
    async with worker(time_env, provider) as queue:
        handle = await start(time_env, queue, **ruled(bonus))
        await until_status(time_env, handle, S.refunding)
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        await handle.result()
    [grant] = provider.grants
    assert grant.bonus_percent == 10
    details = metadata.current_details
    assert "**Merchant rules:** rule credit (m-1-rules-v1) fired on fault = 'buyer'" in details
