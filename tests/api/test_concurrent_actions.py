"""Approve and reject sent at the same moment through HTTP: one answers 200, the other 409, and
the timeline holds exactly the one that was answered."""

from __future__ import annotations

import asyncio

import httpx

from tests.support.stack import Stack
from tests.support.tickets import MERCHANT, Opened, act, open_for_review, read

ROUNDS = 20
DECISIONS = {"approve": "approved_by_merchant", "reject": "rejected_by_merchant"}
BODIES = {"approve": {}, "reject": {"reason_code": "used_goods", "note": "worn"}}


async def _race(stack: Stack, opened: Opened) -> dict[str, httpx.Response]:
    answers = await asyncio.gather(
        *(act(stack, MERCHANT, opened.ticket_no, name, BODIES[name]) for name in DECISIONS)
    )
    return dict(zip(DECISIONS, answers, strict=True))


async def test_approve_and_reject_at_once_apply_exactly_one_every_time(stack: Stack) -> None:
    tickets = [await open_for_review(stack, type="refund_only") for _ in range(ROUNDS)]
    for opened in tickets:
        answers = await _race(stack, opened)
        codes = {name: answer.status_code for name, answer in answers.items()}
        winners = [name for name, code in codes.items() if code == 200]
        assert len(winners) == 1, {n: a.text for n, a in answers.items()}
        (loser,) = set(DECISIONS) - set(winners)
        refusal = answers[loser].json()
        assert codes[loser] == 409, refusal
        assert refusal["code"] in ("action_in_progress", "illegal_transition"), refusal
        detail = (await read(stack, MERCHANT, opened.ticket_no)).json()
        recorded = [entry["event"] for entry in detail["timeline"]]
        assert recorded.count(DECISIONS[winners[0]]) == 1, recorded
        assert DECISIONS[loser] not in recorded, recorded
        # A 200 means the action is in the timeline the caller is shown.
        shown = [entry["event"] for entry in answers[winners[0]].json()["timeline"]]
        assert DECISIONS[winners[0]] in shown, shown
