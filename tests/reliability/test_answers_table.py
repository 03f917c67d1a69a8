"""The fault suite's column of what the API answered: grouped per kind of call."""

from __future__ import annotations

from collections import Counter

import pytest

from reliability.traffic import Answer, Answers, endpoint_kind, render


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("PUT", "/v1/orders/R-1A2B", "order"),
        ("POST", "/v1/tickets", "create"),
        ("GET", "/v1/tickets/AS20261201-000007", "read"),
        ("POST", "/v1/tickets/AS20261201-000007/approve", "approve"),
        ("POST", "/v1/tickets/AS20261201-000007/return-shipment", "return-shipment"),
        ("POST", "/v1/tickets/AS20261201-000007/inspection", "inspection"),
        ("POST", "/v1/warehouse/scans", "scan"),
        ("POST", "/v1/webhooks/couriers/sf", "webhook"),
        ("GET", "/v1/reports/summary?merchant=m-1", "GET /v1/reports/summary"),
    ],
)
def test_each_call_is_named_by_what_it_does(method: str, path: str, kind: str) -> None:
    assert endpoint_kind(method, path) == kind


def test_answers_are_shown_per_kind_most_frequent_first() -> None:
    during: Counter[Answer] = Counter()
    during.update({("approve", "200"): 10, ("approve", "503 outcome_unknown"): 3})
    during.update({("create", "201"): 20, ("read", "ReadError"): 1, ("read", "200"): 1})

    assert render(during) == (
        "create: 201 x20; approve: 200 x10, 503 outcome_unknown x3; read: 200 x1, ReadError x1"
    )


def test_only_calls_in_the_fault_window_count_as_during_it() -> None:
    answers = Answers()
    answers.note(0.0, 0.1, "create", "201")  # before any fault
    answers.fault_started()
    assert answers.fault_from is not None
    answers.note(answers.fault_from, 0.2, "approve", "503 outcome_unknown")
    answers.fault_ended()

    assert render(answers.during) == "approve: 503 outcome_unknown x1"
    assert answers.total[("create", "201")] == 1
    assert render(Counter()) == "nothing (no call fell in the fault)"
