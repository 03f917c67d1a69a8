"""The API counts its refusals on /metrics by route template and the stable code of the problem it
answered with: an action the ticket's state refuses, a call without a key, a path it does not
serve."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.stack import Stack
from tests.support.tickets import MERCHANT, act, open_for_review

PROBLEMS = "aftersales_http_problems_total"


async def _problems(stack: Stack) -> dict[tuple[str, str], float]:
    async with stack.client(None) as anonymous:
        exposition = (await anonymous.get("/metrics")).text
    return {
        (sample.labels["route"], sample.labels["code"]): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == PROBLEMS
    }


async def test_refusals_are_counted_by_route_and_problem_code(stack: Stack) -> None:
    opened = await open_for_review(stack)
    approved = await act(stack, MERCHANT, opened.ticket_no, "approve", {})
    assert approved.status_code == 200, approved.text
    before = await _problems(stack)

    again = await act(stack, MERCHANT, opened.ticket_no, "approve", {})
    async with stack.client(None) as anonymous:
        unauthenticated = await anonymous.get(f"/v1/tickets/{opened.ticket_no}")
        unknown = await anonymous.get("/v1/no-such-thing")
    async with httpx.AsyncClient(base_url=stack.api_url) as http:
        fine = await http.get("/healthz")

    assert (again.status_code, again.json()["code"]) == (409, "illegal_transition")
    assert (unauthenticated.status_code, unauthenticated.json()["code"]) == (401, "unauthenticated")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    assert fine.status_code == 200
    after = await _problems(stack)
    counted = {
        key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key)
    }
    assert counted == {
        ("/v1/tickets/{ticket_no}/approve", "illegal_transition"): 1,
        ("/v1/tickets/{ticket_no}", "unauthenticated"): 1,
        ("unmatched", "not_found"): 1,
    }
