"""Every actor action of SPEC §8 over the real stack: who may take it, on which ticket, when."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support.stack import Stack
from tests.support.tickets import (
    ALL_ACCEPTED,
    MERCHANT,
    ONE_REJECTED,
    PARCEL,
    QUOTED,
    SUPPORT,
    WAREHOUSE,
    Opened,
    act,
    large_refund,
    read,
    to_state,
)

OTHER_MERCHANT = "merchant:m-2002"
OTHER_WAREHOUSE = "warehouse:wh-2002"
BUYER = "buyer"  # the ticket's own buyer
OTHER_BUYER = "another buyer"  # a fresh buyer who has nothing to do with the ticket


@dataclass(frozen=True)
class Case:
    action: str
    state: str  # where the ticket must be for the action
    actor: str
    body: dict[str, Any]
    outcome: str
    wrong_role: str  # a role that can never take the action
    stranger: str | None  # the right role, but not this ticket's party
    type: str = "return_refund"


CASES = [
    Case(
        "approve",
        "awaiting_merchant_review",
        MERCHANT,
        {"service_fee": 300, "note": "opened box"},
        "awaiting_buyer_return",
        BUYER,
        OTHER_MERCHANT,
    ),
    Case(
        "reject",
        "awaiting_merchant_review",
        MERCHANT,
        {"reason_code": "used_goods", "note": "worn"},
        "rejected",
        WAREHOUSE,
        OTHER_MERCHANT,
    ),
    Case(
        "return-shipment",
        "awaiting_buyer_return",
        BUYER,
        {"carrier": "SF", "tracking_no": "SF-2024-77"},
        "return_in_transit",
        MERCHANT,
        OTHER_BUYER,
    ),
    Case("cancel", "awaiting_merchant_review", BUYER, {}, "cancelled", MERCHANT, OTHER_BUYER),
    Case("cancel", "awaiting_buyer_return", BUYER, {}, "cancelled", SUPPORT, OTHER_BUYER),
    Case(
        "escalate",
        "awaiting_merchant_review",
        MERCHANT,
        {"reason": "looks like fraud"},
        "under_arbitration",
        SUPPORT,
        OTHER_MERCHANT,
    ),
    Case(
        "escalate",
        "rejected",
        BUYER,
        {"reason": "the item was never used"},
        "under_arbitration",
        WAREHOUSE,
        OTHER_BUYER,
    ),
    Case(
        "escalate",
        "return_in_transit",
        BUYER,
        {"reason": "courier lost it"},
        "under_arbitration",
        WAREHOUSE,
        OTHER_BUYER,
    ),
    Case(
        "escalate",
        "inspection_failed",
        MERCHANT,
        {"reason": "the buyer disputes the inspection"},
        "under_arbitration",
        WAREHOUSE,
        OTHER_MERCHANT,
    ),
    Case(
        "inspection",
        "return_in_transit",
        WAREHOUSE,
        {"lines": ONE_REJECTED, "note": "scratched", "photos": ["https://img.test/1.jpg"]},
        "inspection_failed",
        MERCHANT,
        OTHER_WAREHOUSE,
    ),
    Case(
        "inspection",
        "return_in_transit",
        WAREHOUSE,
        {"lines": ALL_ACCEPTED},
        "awaiting_reship",
        BUYER,
        OTHER_WAREHOUSE,
        type="exchange",
    ),
    Case(
        "resolve-inspection",
        "inspection_failed",
        MERCHANT,
        {"decision": "return_to_buyer", "note": "sent back"},
        "rejected",
        WAREHOUSE,
        OTHER_MERCHANT,
    ),
    Case(
        "reship",
        "awaiting_reship",
        MERCHANT,
        {"carrier": "YTO", "tracking_no": "YT-99887766"},
        "replacement_in_transit",
        BUYER,
        OTHER_MERCHANT,
        type="exchange",
    ),
    Case(
        "confirm-receipt",
        "replacement_in_transit",
        BUYER,
        {},
        "completed",
        MERCHANT,
        OTHER_BUYER,
        type="exchange",
    ),
    Case(
        "arbitrate",
        "under_arbitration",
        SUPPORT,
        {"decision": "reject", "note": "no evidence"},
        "closed",
        MERCHANT,
        None,  # support may act on every ticket
    ),
    Case(
        "arbitrate",
        "under_arbitration",
        SUPPORT,
        {"decision": "return_to_buyer"},
        "closed",
        BUYER,
        None,
    ),
]


def case_id(case: Case) -> str:
    return f"{case.action}-in-{case.state}"


async def as_label(stack: Stack, who: str, opened: Opened) -> str:
    if who == BUYER:
        return opened.buyer
    if who == OTHER_BUYER:
        return await stack.new_buyer()
    return who


@pytest.mark.parametrize("case", CASES, ids=case_id)
async def test_an_action_is_taken_once_by_its_actor_on_their_own_ticket(
    stack: Stack, case: Case
) -> None:
    opened = await to_state(stack, case.state, type=case.type)
    no, actor = opened.ticket_no, await as_label(stack, case.actor, opened)
    before = (await read(stack, actor, no)).json()
    wrong = await act(
        stack, await as_label(stack, case.wrong_role, opened), no, case.action, case.body
    )
    foreign = None
    if case.stranger:
        stranger = await as_label(stack, case.stranger, opened)
        foreign = await act(stack, stranger, no, case.action, case.body)
    stale_body = {**case.body, "expected_version": before["version"] - 1}
    stale = await act(stack, actor, no, case.action, stale_body)
    done = await act(
        stack, actor, no, case.action, {**case.body, "expected_version": before["version"]}
    )
    again = await act(stack, actor, no, case.action, case.body)

    assert case.action in before["allowed_actions"]
    assert (wrong.status_code, wrong.json()["code"]) == (403, "forbidden_role")
    if foreign is not None:
        assert (foreign.status_code, foreign.json()["code"]) == (404, "ticket_not_found")
    assert (stale.status_code, stale.json()["code"]) == (409, "version_conflict")
    assert f"version {before['version']}" in stale.json()["detail"]
    assert done.status_code == 200, done.text
    answer = done.json()
    assert answer["status"] == case.outcome and answer["version"] > before["version"]
    step = next(e for e in answer["timeline"] if e["from_status"] == case.state)
    role, subject = actor.split(":")
    assert (step["to_status"], step["actor_role"], step["actor_id"]) == (
        case.outcome,
        role,
        subject,
    )
    assert case.action not in answer["allowed_actions"]
    assert (again.status_code, again.json()["code"]) == (409, "illegal_transition")
    assert f"{case.action} is not possible: the ticket is {case.outcome}" in again.json()["detail"]
    after = (await read(stack, actor, no)).json()
    assert after["version"] == answer["version"], "a refused action changed the ticket"


async def test_an_action_never_allowed_in_a_state_says_what_the_ticket_is(stack: Stack) -> None:
    opened = await to_state(stack, "awaiting_merchant_review")
    no = opened.ticket_no
    refusals = {
        "return-shipment": await act(stack, opened.buyer, no, "return-shipment", PARCEL),
        "confirm-receipt": await act(stack, opened.buyer, no, "confirm-receipt", {}),
        "escalate": await act(stack, opened.buyer, no, "escalate", {"reason": "too slow"}),
        "reship": await act(stack, MERCHANT, no, "reship", PARCEL),
        "resolve-inspection": await act(
            stack, MERCHANT, no, "resolve-inspection", {"decision": "return_to_buyer"}
        ),
        "arbitrate": await act(stack, SUPPORT, no, "arbitrate", {"decision": "refund"}),
        "second-approval": await act(
            stack, SUPPORT, no, "second-approval", {"decision": "approve"}
        ),
    }
    for action, refused in refusals.items():
        assert (refused.status_code, refused.json()["code"]) == (409, "illegal_transition"), action
        expected = f"{action} is not possible: the ticket is awaiting_merchant_review"
        assert expected in refused.json()["detail"]
    # Before the merchant approves, no warehouse is on the ticket: none may inspect it.
    early = await act(stack, WAREHOUSE, no, "inspection", {"lines": ALL_ACCEPTED})
    assert (early.status_code, early.json()["code"]) == (404, "ticket_not_found")
    unchanged = (await read(stack, opened.buyer, no)).json()
    assert unchanged["status"] == "awaiting_merchant_review" and len(unchanged["timeline"]) >= 1


@dataclass(frozen=True)
class Payout:
    state: str
    steps: list[tuple[str, str, dict[str, Any]]]
    refunded: int
    type: str = "return_refund"
    service_fee: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


PAYOUTS = {
    "refund only, approved with a service fee": Payout(
        "awaiting_merchant_review",
        [(MERCHANT, "approve", {"service_fee": 300})],
        QUOTED - 300,
        type="refund_only",
        service_fee=300,
    ),
    "return inspected in full keeps the service fee": Payout(
        "awaiting_merchant_review",
        [
            (MERCHANT, "approve", {"service_fee": 300}),
            (BUYER, "return-shipment", PARCEL),
            (WAREHOUSE, "inspection", {"lines": ALL_ACCEPTED}),
        ],
        QUOTED - 300,
        service_fee=300,
    ),
    "failed inspection settled by a partial refund": Payout(
        "inspection_failed",
        [(MERCHANT, "resolve-inspection", {"decision": "partial_refund", "amount": 1000})],
        1000,
    ),
    "support decides a full refund": Payout(
        "under_arbitration", [(SUPPORT, "arbitrate", {"decision": "refund"})], QUOTED
    ),
    "support decides a partial refund": Payout(
        "under_arbitration",
        [(SUPPORT, "arbitrate", {"decision": "partial_refund", "amount": 1200})],
        1200,
    ),
}


@pytest.mark.parametrize("payout", PAYOUTS.values(), ids=PAYOUTS.keys())
async def test_an_action_that_grants_money_pays_exactly_that(stack: Stack, payout: Payout) -> None:
    opened = await to_state(stack, payout.state, type=payout.type)
    for who, action, body in payout.steps:
        taken = await act(stack, await as_label(stack, who, opened), opened.ticket_no, action, body)
        assert taken.status_code == 200, taken.text
    assert taken.json()["status"] in ("refunding", "completed")
    done = await stack.ticket_when(MERCHANT, opened.ticket_no, "completed")
    async with stack.client(MERCHANT) as merchant:
        order = (await merchant.get(f"/v1/orders/{opened.order_id}")).json()

    assert done["refunded_amount"] == payout.refunded == order["refunded_total"]
    assert [r["amount"] for r in done["refunds"]] == [payout.refunded]
    assert done["service_fee"] == payout.service_fee, (done["breakdown"], [(e["event"], e["reason"], e["data"]) for e in done["timeline"]])


async def test_an_action_repeated_under_its_idempotency_key_takes_effect_once(
    stack: Stack,
) -> None:
    opened = await to_state(stack, "awaiting_buyer_return")
    no, key = opened.ticket_no, f"ship-{opened.ticket_no}"
    first = await act(stack, opened.buyer, no, "return-shipment", PARCEL, key=key)
    replay = await act(stack, opened.buyer, no, "return-shipment", PARCEL, key=key)
    other = {**PARCEL, "tracking_no": "SF-99999"}
    reused = await act(stack, opened.buyer, no, "return-shipment", other, key=key)
    # The key belongs to its caller: the merchant's own use of the same key is a new request.
    merchant_key = await act(stack, MERCHANT, no, "escalate", {"reason": "x"}, key=key)

    assert first.status_code == 200 and "Idempotent-Replayed" not in first.headers
    assert replay.status_code == 200, replay.text
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["status"] == "return_in_transit"
    assert replay.json()["version"] == first.json()["version"]
    assert [s["tracking_no"] for s in replay.json()["shipments"]] == ["SF-10001"]
    shipped = [e for e in replay.json()["timeline"] if e["to_status"] == "return_in_transit"]
    assert len(shipped) == 1
    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency_key_reused")
    assert (merchant_key.status_code, merchant_key.json()["code"]) == (409, "illegal_transition")


async def test_a_second_approval_replayed_under_its_key_pays_once(stack: Stack) -> None:
    opened = await large_refund(stack)
    no, key = opened.ticket_no, f"second-{opened.ticket_no}"
    body = {"decision": "approve", "note": "checked"}
    first = await act(stack, SUPPORT, no, "second-approval", body, key=key)
    replay = await act(stack, SUPPORT, no, "second-approval", body, key=key)
    reused = await act(stack, SUPPORT, no, "second-approval", {"decision": "decline"}, key=key)
    by_shop = await act(stack, MERCHANT, no, "second-approval", body)
    by_warehouse = await act(stack, WAREHOUSE, no, "second-approval", body)
    done = await stack.ticket_when(SUPPORT, no, "completed")

    assert first.status_code == 200 and first.json()["status"] == "refunding"
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency_key_reused")
    assert (by_shop.status_code, by_shop.json()["code"]) == (403, "forbidden_role")
    assert (by_warehouse.status_code, by_warehouse.json()["code"]) == (403, "forbidden_role")
    assert [r["amount"] for r in done["refunds"]] == [600000]
    granted = [e for e in done["timeline"] if e["event"] == "second_approval_granted"]
    assert len(granted) == 1 and granted[0]["actor_id"] == "s-1"


REFUSALS = {
    "service fee on a merchant-fault reason": (
        "awaiting_merchant_review",
        "quality_issue",
        MERCHANT,
        "approve",
        {"service_fee": 100},
        "service_fee_not_allowed",
    ),
    "service fee above the refund": (
        "awaiting_merchant_review",
        "no_longer_needed",
        MERCHANT,
        "approve",
        {"service_fee": QUOTED + 1},
        "service_fee_out_of_range",
    ),
    "another shop's warehouse": (
        "awaiting_merchant_review",
        "no_longer_needed",
        MERCHANT,
        "approve",
        {"warehouse_id": "wh-2002"},
        "unknown_warehouse",
    ),
    "a warehouse that does not exist": (
        "awaiting_merchant_review",
        "no_longer_needed",
        MERCHANT,
        "approve",
        {"warehouse_id": "wh-nowhere"},
        "unknown_warehouse",
    ),
    "inspection missing a line": (
        "return_in_transit",
        "no_longer_needed",
        WAREHOUSE,
        "inspection",
        {"lines": ALL_ACCEPTED[:1]},
        "inspection_lines_mismatch",
    ),
    "inspection counting too few units": (
        "return_in_transit",
        "no_longer_needed",
        WAREHOUSE,
        "inspection",
        {"lines": [{"line_id": "L1", "accepted": 1, "rejected": 0}, ALL_ACCEPTED[1]]},
        "inspection_lines_mismatch",
    ),
    "inspection listing a line twice": (
        "return_in_transit",
        "no_longer_needed",
        WAREHOUSE,
        "inspection",
        {"lines": [*ALL_ACCEPTED, ALL_ACCEPTED[1]]},
        "inspection_lines_mismatch",
    ),
    "inspection of a line not returned": (
        "return_in_transit",
        "no_longer_needed",
        WAREHOUSE,
        "inspection",
        {"lines": [*ALL_ACCEPTED, {"line_id": "L9", "accepted": 1, "rejected": 0}]},
        "inspection_lines_mismatch",
    ),
    "partial refund without amount after inspection": (
        "inspection_failed",
        "no_longer_needed",
        MERCHANT,
        "resolve-inspection",
        {"decision": "partial_refund"},
        "amount_required",
    ),
    "partial refund above the refund": (
        "inspection_failed",
        "no_longer_needed",
        MERCHANT,
        "resolve-inspection",
        {"decision": "partial_refund", "amount": QUOTED + 1},
        "amount_exceeds_maximum",
    ),
    "arbitrated partial refund without amount": (
        "under_arbitration",
        "no_longer_needed",
        SUPPORT,
        "arbitrate",
        {"decision": "partial_refund"},
        "amount_required",
    ),
}


@pytest.mark.parametrize(
    ("state", "reason_code", "actor", "action", "body", "code"),
    REFUSALS.values(),
    ids=REFUSALS.keys(),
)
async def test_an_action_breaking_a_rule_is_refused_with_its_code_and_changes_nothing(
    stack: Stack,
    state: str,
    reason_code: str,
    actor: str,
    action: str,
    body: dict[str, Any],
    code: str,
) -> None:
    opened = await to_state(stack, state, reason_code=reason_code)
    before = (await read(stack, actor, opened.ticket_no)).json()
    refused = await act(stack, actor, opened.ticket_no, action, body)
    after = (await read(stack, actor, opened.ticket_no)).json()

    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == code
    assert (after["status"], after["version"]) == (state, before["version"])
    assert after["timeline"] == before["timeline"]


async def test_a_warehouse_sees_and_inspects_only_the_returns_sent_to_it(stack: Stack) -> None:
    opened = await to_state(stack, "awaiting_merchant_review")
    no = opened.ticket_no
    before_approval = await read(stack, WAREHOUSE, no)
    approved = await act(stack, MERCHANT, no, "approve", {"warehouse_id": "wh-1001"})
    shipped = await act(stack, opened.buyer, no, "return-shipment", PARCEL)
    lists = {}
    for label in (WAREHOUSE, OTHER_WAREHOUSE):
        async with stack.client(label) as http:
            page = (await http.get("/v1/tickets", params={"order_id": opened.order_id})).json()
        lists[label] = [t["ticket_no"] for t in page["items"]]
    ours = await read(stack, WAREHOUSE, no)
    theirs = await read(stack, OTHER_WAREHOUSE, no)
    theirs_inspects = await act(stack, OTHER_WAREHOUSE, no, "inspection", {"lines": ALL_ACCEPTED})

    assert before_approval.status_code == 404
    assert approved.status_code == 200 and approved.json()["warehouse_id"] == "wh-1001"
    assert shipped.status_code == 200, shipped.text
    assert lists == {WAREHOUSE: [no], OTHER_WAREHOUSE: []}
    assert ours.status_code == 200 and ours.json()["allowed_actions"] == ["inspection"]
    assert ours.json()["risk"] is None
    assert (theirs.status_code, theirs.json()["code"]) == (404, "ticket_not_found")
    assert (theirs_inspects.status_code, theirs_inspects.json()["code"]) == (
        404,
        "ticket_not_found",
    )
