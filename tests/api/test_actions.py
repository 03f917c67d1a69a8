"""Every actor action of SPEC §8 over the real stack: who may take it, on which ticket, when."""

from __future__ import annotations

from dataclasses import dataclass
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

# Who acts, as table cells: the ticket's parties, and strangers of the same role.
M, W, S = MERCHANT, WAREHOUSE, SUPPORT
B = "buyer"  # the ticket's own buyer
M2, W2 = "merchant:m-2002", "warehouse:wh-2002"
B2 = "another buyer"  # a fresh buyer who has nothing to do with the ticket
REVIEW, TRANSIT, FAILED = "awaiting_merchant_review", "return_in_transit", "inspection_failed"
ARBITRATION, REPLACED = "under_arbitration", "replacement_in_transit"


@dataclass(frozen=True)
class Case:
    action: str
    state: str  # where the ticket must be for the action
    actor: str
    body: dict[str, Any]
    outcome: str
    wrong_role: str  # a role that can never take the action
    stranger: str | None  # the right role, but not a party to this ticket
    type: str = "return_refund"


PARTIAL = {"decision": "partial_refund"}
FAILING = {"lines": ONE_REJECTED, "note": "scratched", "photos": ["https://img.test/1.jpg"]}
CASES = [
    Case("approve", REVIEW, M, {"service_fee": 300}, "awaiting_buyer_return", B, M2),
    Case("reject", REVIEW, M, {"reason_code": "used", "note": "worn"}, "rejected", W, M2),
    Case("return-shipment", "awaiting_buyer_return", B, PARCEL, TRANSIT, M, B2),
    Case("cancel", REVIEW, B, {"note": "found it"}, "cancelled", M, B2),
    Case("cancel", "awaiting_buyer_return", B, {}, "cancelled", S, B2),
    Case("cancel", "rejected", B, {}, "cancelled", W, B2),
    Case("escalate", REVIEW, M, {"reason": "looks like fraud"}, ARBITRATION, S, M2),
    Case("escalate", "rejected", B, {"reason": "never used"}, ARBITRATION, W, B2),
    Case("escalate", TRANSIT, B, {"reason": "courier lost it"}, ARBITRATION, W, B2),
    Case("escalate", FAILED, M, {"reason": "buyer disputes it"}, ARBITRATION, W, M2),
    Case("escalate", FAILED, B, {"reason": "it was not me"}, ARBITRATION, S, B2),
    Case("inspection", TRANSIT, W, FAILING, FAILED, M, W2),
    Case("inspection", TRANSIT, W, {"lines": ALL_ACCEPTED}, "awaiting_reship", B, W2, "exchange"),
    Case("resolve-inspection", FAILED, M, {"decision": "return_to_buyer"}, "rejected", W, M2),
    Case("reship", "awaiting_reship", M, PARCEL, REPLACED, B, M2, "exchange"),
    Case("escalate", REPLACED, B, {"reason": "broken"}, ARBITRATION, W, B2, "exchange"),
    Case("confirm-receipt", REPLACED, B, {}, "completed", M, B2, "exchange"),
    # Support may act on every ticket: there is no stranger to support.
    Case("arbitrate", ARBITRATION, S, {"decision": "reject", "note": "x"}, "closed", M, None),
    Case("arbitrate", ARBITRATION, S, {"decision": "return_to_buyer"}, "closed", B, None),
]


def case_id(case: Case) -> str:
    return f"{case.action}-in-{case.state}"


async def as_label(stack: Stack, who: str, opened: Opened) -> str:
    if who == B:
        return opened.buyer
    if who == B2:
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
    # The step that left the state (a note, such as the return label's, stays in it).
    step = next(e for e in answer["timeline"] if e["from_status"] == case.state != e["to_status"])
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
    opened = await to_state(stack, REVIEW)
    no = opened.ticket_no
    before = (await read(stack, opened.buyer, no)).json()
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
    after = (await read(stack, opened.buyer, no)).json()
    assert (after["status"], after["version"]) == (REVIEW, before["version"])


@dataclass(frozen=True)
class Payout:
    state: str
    steps: list[tuple[str, str, dict[str, Any]]]
    refunded: int
    type: str = "return_refund"
    service_fee: int = 0


PAYOUTS = [
    pytest.param(
        Payout(REVIEW, [(M, "approve", {"service_fee": 300})], QUOTED - 300, "refund_only", 300),
        id="refund only approved with a service fee",
    ),
    pytest.param(
        Payout(
            REVIEW,
            [
                (M, "approve", {"service_fee": 300}),
                (B, "return-shipment", PARCEL),
                (W, "inspection", {"lines": ALL_ACCEPTED}),
            ],
            QUOTED - 300,
            service_fee=300,
        ),
        id="return inspected in full keeps the service fee",
    ),
    pytest.param(
        Payout(FAILED, [(M, "resolve-inspection", {**PARTIAL, "amount": 1000})], 1000),
        id="failed inspection settled by a partial refund",
    ),
    pytest.param(
        Payout(ARBITRATION, [(S, "arbitrate", {"decision": "refund"})], QUOTED),
        id="support decides a full refund",
    ),
    pytest.param(
        Payout(ARBITRATION, [(S, "arbitrate", {**PARTIAL, "amount": 1200})], 1200),
        id="support decides a partial refund",
    ),
]


@pytest.mark.parametrize("payout", PAYOUTS)
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
    assert done["service_fee"] == payout.service_fee


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


@dataclass(frozen=True)
class Refusal:
    state: str
    actor: str
    action: str
    body: dict[str, Any]
    code: str
    reason_code: str = "no_longer_needed"


def inspected(*lines: tuple[str, int, int]) -> dict[str, Any]:
    return {"lines": [{"line_id": i, "accepted": a, "rejected": r} for i, a, r in lines]}


REFUSALS = {
    "fee on a merchant-fault reason": Refusal(
        REVIEW, M, "approve", {"service_fee": 100}, "service_fee_not_allowed", "quality_issue"
    ),
    "fee above the refund": Refusal(
        REVIEW, M, "approve", {"service_fee": QUOTED + 1}, "service_fee_out_of_range"
    ),
    "another shop's warehouse": Refusal(
        REVIEW, M, "approve", {"warehouse_id": "wh-2002"}, "unknown_warehouse"
    ),
    "no such warehouse": Refusal(
        REVIEW, M, "approve", {"warehouse_id": "wh-0"}, "unknown_warehouse"
    ),
    "a line not inspected": Refusal(
        TRANSIT, W, "inspection", inspected(("L1", 2, 0)), "inspection_lines_mismatch"
    ),
    "too few units": Refusal(
        TRANSIT, W, "inspection", inspected(("L1", 1, 0), ("L2", 1, 0)), "inspection_lines_mismatch"
    ),
    "too many units": Refusal(
        TRANSIT, W, "inspection", inspected(("L1", 2, 1), ("L2", 1, 0)), "inspection_lines_mismatch"
    ),
    "a line twice": Refusal(
        TRANSIT,
        W,
        "inspection",
        inspected(("L1", 2, 0), ("L2", 1, 0), ("L2", 1, 0)),
        "inspection_lines_mismatch",
    ),
    "a line not returned": Refusal(
        TRANSIT,
        W,
        "inspection",
        inspected(("L1", 2, 0), ("L2", 1, 0), ("L9", 1, 0)),
        "inspection_lines_mismatch",
    ),
    "merchant's partial refund without amount": Refusal(
        FAILED, M, "resolve-inspection", PARTIAL, "amount_required"
    ),
    "merchant's partial refund above the refund": Refusal(
        FAILED, M, "resolve-inspection", {**PARTIAL, "amount": QUOTED + 1}, "amount_exceeds_maximum"
    ),
    "support's partial refund without amount": Refusal(
        ARBITRATION, S, "arbitrate", PARTIAL, "amount_required"
    ),
    "support's partial refund above the refund": Refusal(
        ARBITRATION, S, "arbitrate", {**PARTIAL, "amount": QUOTED + 1}, "amount_exceeds_maximum"
    ),
}


@pytest.mark.parametrize("rule", REFUSALS.values(), ids=REFUSALS.keys())
async def test_an_action_breaking_a_rule_is_refused_with_its_code_and_changes_nothing(
    stack: Stack, rule: Refusal
) -> None:
    opened = await to_state(stack, rule.state, reason_code=rule.reason_code)
    before = (await read(stack, rule.actor, opened.ticket_no)).json()
    refused = await act(stack, rule.actor, opened.ticket_no, rule.action, rule.body)
    after = (await read(stack, rule.actor, opened.ticket_no)).json()

    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == rule.code
    assert (after["status"], after["version"]) == (rule.state, before["version"])
    assert after["timeline"] == before["timeline"]


async def test_a_warehouse_sees_and_inspects_only_the_returns_sent_to_it(stack: Stack) -> None:
    opened = await to_state(stack, "awaiting_merchant_review")
    no = opened.ticket_no
    before_approval = await read(stack, WAREHOUSE, no)
    approved = await act(stack, MERCHANT, no, "approve", {"warehouse_id": "wh-1001"})
    shipped = await act(stack, opened.buyer, no, "return-shipment", PARCEL)
    lists = {}
    for label in (WAREHOUSE, W2):
        async with stack.client(label) as http:
            page = (await http.get("/v1/tickets", params={"order_id": opened.order_id})).json()
        lists[label] = [t["ticket_no"] for t in page["items"]]
    ours = await read(stack, WAREHOUSE, no)
    theirs = await read(stack, W2, no)
    theirs_inspects = await act(stack, W2, no, "inspection", {"lines": ALL_ACCEPTED})

    assert before_approval.status_code == 404
    assert approved.status_code == 200 and approved.json()["warehouse_id"] == "wh-1001"
    assert shipped.status_code == 200, shipped.text
    assert lists == {WAREHOUSE: [no], W2: []}
    assert ours.status_code == 200 and ours.json()["allowed_actions"] == ["inspection"]
    assert ours.json()["risk"] is None
    assert (theirs.status_code, theirs.json()["code"]) == (404, "ticket_not_found")
    assert (theirs_inspects.status_code, theirs_inspects.json()["code"]) == (
        404,
        "ticket_not_found",
    )
