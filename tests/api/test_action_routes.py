"""Every workflow action has its endpoint, as the OpenAPI document tells a client."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute
from temporalio import workflow

from api.app import create_app
from api.routes.ticket_actions import ROUTES, router
from domain.actions import WORKFLOW_ACTIONS, Action
from workflows.ticket import TicketWorkflow

# Written out here, independently of the routes' table.
BODIES = {
    Action.approve: "ApproveBody",
    Action.reject: "RejectBody",
    Action.return_shipment: "ShippingBody",
    Action.cancel: "CancelBody",
    Action.escalate: "EscalateBody",
    Action.inspection: "InspectionBody",
    Action.resolve_inspection: "ResolveInspectionBody",
    Action.reship: "ShippingBody",
    Action.confirm_receipt: "ConfirmReceiptBody",
    Action.arbitrate: "ArbitrateBody",
    Action.second_approval: "SecondApprovalBody",
    Action.retry_refund: "RetryRefundBody",
    Action.evidence: "EvidenceBody",
}
OPTIONAL_BODIES = {Action.cancel, Action.confirm_receipt}
RESPONSES = {"200", "400", "401", "403", "404", "409", "413", "422", "429", "502", "503"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return create_app().openapi()


def _ref(schema: dict[str, Any]) -> str:
    return str(schema["$ref"]).removeprefix("#/components/schemas/")


def test_the_expected_bodies_cover_every_workflow_action() -> None:
    assert set(BODIES) == WORKFLOW_ACTIONS


@pytest.mark.parametrize("action", sorted(WORKFLOW_ACTIONS))
def test_each_workflow_action_is_one_post_endpoint_with_its_body(
    spec: dict[str, Any], action: Action
) -> None:
    path = f"/v1/tickets/{{ticket_no}}/{action}"
    operation = spec["paths"][path]["post"]
    routes = [r for r in router.routes if isinstance(r, APIRoute) and r.path == path]
    body = operation["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    parameters = {(p["in"], p["name"]): p for p in operation["parameters"]}

    assert [route.methods for route in routes] == [{"POST"}]
    assert list(spec["paths"][path]) == ["post"]
    if action in OPTIONAL_BODIES:
        assert "required" not in body
        assert [_ref(s) for s in schema["anyOf"] if "$ref" in s] == [BODIES[action]]
        assert {"type": "null"} in schema["anyOf"]
    else:
        assert body["required"] is True
        assert _ref(schema) == BODIES[action]
    assert set(parameters) == {("path", "ticket_no"), ("header", "Idempotency-Key")}
    assert parameters[("header", "Idempotency-Key")]["required"] is False
    ticket_no = parameters[("path", "ticket_no")]["schema"]
    assert (ticket_no["minLength"], ticket_no["maxLength"]) == (1, 32)
    assert set(operation["responses"]) == RESPONSES
    assert all(operation["responses"][code]["description"] for code in RESPONSES - {"200"})
    assert _ref(operation["responses"]["200"]["content"]["application/json"]["schema"]) == (
        "TicketDetail"
    )
    assert operation["tags"] == ["ticket actions"]
    assert operation["description"]


def test_each_action_sends_an_update_the_ticket_workflow_has() -> None:
    updates = workflow._Definition.must_from_class(TicketWorkflow).updates

    assert {route.action for route in ROUTES} == WORKFLOW_ACTIONS
    assert {route.update for route in ROUTES} <= set(updates)
