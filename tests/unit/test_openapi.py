"""The OpenAPI document lists every refusal an operation can answer, as problem+json, and none it
cannot: what a client (and schemathesis, in tests/contract) holds the API to."""

from __future__ import annotations

import json
from typing import Any

import pytest

from api.app import create_app
from api.problems import PROBLEM_JSON

# Written out here, independently of the rules in api/openapi.py.
CONFLICTS = {
    "POST /v1/tickets",
    "PUT /v1/orders/{order_id}",
    "POST /v1/tickets/{ticket_no}/messages",
    "POST /v1/keys/{key_id}/rotate",
    "POST /v1/keys/{key_id}/expire",
    "POST /v1/merchants/{merchant_id}/rules/what-if",
    "POST /v1/tickets/bulk/approve",
    "POST /v1/tickets/bulk/reject",
    "POST /v1/tickets/bulk/inspection-pass",
    "POST /v1/tickets/{ticket_no}/difference-payment",
} | {
    f"POST /v1/tickets/{{ticket_no}}/{action}"
    for action in (
        "approve",
        "reject",
        "return-shipment",
        "cancel",
        "escalate",
        "inspection",
        "resolve-inspection",
        "reship",
        "confirm-receipt",
        "arbitrate",
        "second-approval",
        "retry-refund",
        "evidence",
    )
}
UNAUTHENTICATED = {"GET /healthz", "GET /readyz", "GET /metrics"}
WEBHOOKS = {"POST /v1/webhooks/payments/{provider}", "POST /v1/webhooks/couriers/{carrier}"}
ANY_ROLE = {"GET /v1/tickets", "GET /v1/tickets/{ticket_no}"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app().openapi()


def _operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def _statuses(operation: dict[str, Any]) -> set[int]:
    return {int(status) for status in operation["responses"]}


def test_every_refusal_is_a_problem_and_fastapis_own_422_shape_is_gone(
    document: dict[str, Any],
) -> None:
    for key, operation in _operations(document).items():
        for status, answer in operation["responses"].items():
            if int(status) >= 400:
                assert answer["description"], (key, status)
                assert answer["content"] == {
                    PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}
                }, (key, status)
        assert 422 in _statuses(operation), key
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    assert "HTTPValidationError" not in json.dumps(document)


def test_the_problem_schema_names_every_member_an_answer_carries(
    document: dict[str, Any],
) -> None:
    problem = document["components"]["schemas"]["Problem"]
    field_error = document["components"]["schemas"]["ProblemFieldError"]

    assert set(problem["properties"]) == {
        "type",
        "title",
        "status",
        "detail",
        "code",
        "instance",
        "errors",
    }
    assert set(problem["required"]) == set(problem["properties"]) - {"errors"}
    assert problem["additionalProperties"] is True
    assert problem["properties"]["errors"]["items"] == {
        "$ref": "#/components/schemas/ProblemFieldError"
    }
    assert set(field_error["required"]) == {"field", "code", "message"}


def test_authenticated_operations_answer_401_and_say_how_to_authenticate(
    document: dict[str, Any],
) -> None:
    scheme = document["components"]["securitySchemes"]["apiKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for key, operation in _operations(document).items():
        if key in UNAUTHENTICATED:
            assert 401 not in _statuses(operation), key
            assert "security" not in operation, key
        elif key in WEBHOOKS:
            assert "security" not in operation, key
            assert "invalid_signature" in operation["responses"]["401"]["description"]
        else:
            assert operation["security"] == [{"apiKey": []}], key
            answer = operation["responses"]["401"]
            assert answer["headers"]["WWW-Authenticate"]["required"] is True, key
            assert 503 in _statuses(operation), key  # a buyer token's keys may be unreadable


def test_403_is_listed_exactly_where_a_role_is_refused(document: dict[str, Any]) -> None:
    operations = _operations(document)
    for key, operation in operations.items():
        restricted = key not in UNAUTHENTICATED | WEBHOOKS | ANY_ROLE
        assert (403 in _statuses(operation)) is restricted, key
    assert "buyer or support" in operations["POST /v1/tickets"]["responses"]["403"]["description"]


def test_409_is_listed_only_where_a_conflict_can_happen(document: dict[str, Any]) -> None:
    listed = {key for key, op in _operations(document).items() if 409 in _statuses(op)}
    assert listed == CONFLICTS


def test_404_follows_a_path_parameter_or_a_named_order(document: dict[str, Any]) -> None:
    for key, operation in _operations(document).items():
        named = "{" in key or key == "POST /v1/tickets"
        assert (404 in _statuses(operation)) is named, key


def test_bodies_can_be_unreadable_or_too_large_and_v1_calls_rate_limited(
    document: dict[str, Any],
) -> None:
    for key, operation in _operations(document).items():
        statuses = _statuses(operation)
        if "requestBody" in operation:
            assert {400, 413} <= statuses, key
        else:
            assert 400 not in statuses, key
        if key.split()[1].startswith("/v1/"):
            answer = operation["responses"]["429"]
            assert answer["headers"]["Retry-After"]["schema"] == {"type": "integer"}, key
        else:
            assert 429 not in statuses, key
    for key in WEBHOOKS:
        assert 413 in _statuses(_operations(document)[key])


def test_what_routes_do_by_hand_is_documented_too(document: dict[str, Any]) -> None:
    operations = _operations(document)
    metrics = operations["GET /metrics"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]
    upsert = operations["PUT /v1/orders/{order_id}"]["responses"]
    assert upsert["201"]["content"] == upsert["200"]["content"]
    headers = {
        key: {p["name"] for p in operations[key]["parameters"] if p["in"] == "header"}
        for key in WEBHOOKS
    }
    assert headers == {
        "POST /v1/webhooks/payments/{provider}": {"Sandbox-Signature", "Stripe-Signature"},
        "POST /v1/webhooks/couriers/{carrier}": {"Courier-Signature"},
    }
    # Every Update of the workflow; messages are stored by the API, a difference payment is a
    # Signal (nothing of the workflow's comes back to fail).
    updates = ("messages", "difference-payment")
    actions = [key for key in CONFLICTS if "{ticket_no}/" in key and not key.endswith(updates)]
    assert all(502 in _statuses(operations[key]) for key in actions)
