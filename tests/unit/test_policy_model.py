"""One policy model: the settings, the workflow payload and the API schemas have exactly its fields,
and the payloads of tickets opened before it still decode to the values they always had."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter

from api.schemas.policies import EffectivePolicy, PolicyUpdate
from api.services.policy import applied_policy, ticket_policy
from contracts import TicketInput, TicketPolicy
from domain.policy import OpeningRules, Policy
from persistence.models import MerchantPolicy
from settings import PolicySettings, Settings

HISTORIES = Path(__file__).parents[1] / "workflows" / "histories"

# README.md's policy variables (SPEC §10), written out as the independent reference.
DOCUMENTED_VARIABLES = {
    "buyer_evidence": "DEADLINE_BUYER_EVIDENCE",
    "merchant_review": "DEADLINE_MERCHANT_REVIEW",
    "buyer_return": "DEADLINE_BUYER_RETURN",
    "return_delivery": "DEADLINE_RETURN_DELIVERY",
    "warehouse_checkin": "DEADLINE_WAREHOUSE_CHECKIN",
    "buyer_after_rejection": "DEADLINE_BUYER_AFTER_REJECTION",
    "resolve_inspection": "DEADLINE_RESOLVE_INSPECTION",
    "reship": "DEADLINE_RESHIP",
    "confirm_receipt": "DEADLINE_CONFIRM_RECEIPT",
    "difference_payment": "DEADLINE_DIFFERENCE_PAYMENT",
    "refund_settlement": "DEADLINE_REFUND_SETTLEMENT",
    "review_reminders": "REMINDERS_BEFORE_REVIEW_DEADLINE",
    "no_reason_return_window": "POLICY_NO_REASON_RETURN_WINDOW",
    "merchant_fault_window": "POLICY_MERCHANT_FAULT_WINDOW",
    "max_applications_per_line": "POLICY_MAX_APPLICATIONS_PER_LINE",
    "refund_shipping_on_merchant_fault": "REFUND_SHIPPING_ON_MERCHANT_FAULT",
    "return_labels": "RETURN_LABELS",
}
# Global second-approval thresholds are per currency: REFUND_SECOND_APPROVAL_THRESHOLDS.
PER_CURRENCY = "second_approval_threshold"
# What only a ticket records, besides the policy values it freezes.
# The rules are the merchant's rule set (domain.rules), stored apart from its policy overrides.
TICKET_ONLY = {"version", "refund_status_poll", "rules"}


def _unset_policy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in DOCUMENTED_VARIABLES.values():
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("REFUND_SECOND_APPROVAL_THRESHOLDS", raising=False)


def _not_the_default(name: str) -> tuple[Any, str]:
    """A value of the field other than its SPEC default, and how the environment writes it."""
    default = Policy.model_fields[name].get_default(call_default_factory=True)
    if isinstance(default, bool):
        return not default, str(not default).lower()
    if isinstance(default, int):
        return default + 1, str(default + 1)
    if isinstance(default, timedelta):
        return default + timedelta(seconds=1), str(int(default.total_seconds()) + 1)
    if isinstance(default, list):
        return [timedelta(minutes=5)], "PT5M"
    raise AssertionError(f"no other value for {name}={default!r}")


def _started_with(history: str) -> tuple[dict[str, Any], TicketInput]:
    """The `policy` object of a recorded ticket's input, and the input as a worker decodes it."""
    name = history.removesuffix(".json")
    events = WorkflowHistory.from_json(name, (HISTORIES / history).read_text()).events
    payload: Payload = events[0].workflow_execution_started_event_attributes.input.payloads[0]
    (decoded,) = pydantic_data_converter.payload_converter.from_payloads([payload], [TicketInput])
    assert isinstance(decoded, TicketInput)
    return json.loads(payload.data)["policy"], decoded


def test_the_api_accepts_and_shows_exactly_the_policy_fields_in_order() -> None:
    fields = list(Policy.model_fields)
    assert list(PolicyUpdate.model_fields) == fields
    assert list(EffectivePolicy.model_fields) == fields


def test_a_ticket_freezes_every_policy_field_but_the_opening_rules() -> None:
    assert set(TicketPolicy.model_fields) - TICKET_ONLY == set(Policy.model_fields) - set(
        OpeningRules.model_fields
    )


def test_every_policy_field_but_the_threshold_has_the_variable_the_readme_documents() -> None:
    assert set(PolicySettings.model_fields) == set(Policy.model_fields) - {PER_CURRENCY}
    assert {
        name: field.validation_alias for name, field in PolicySettings.model_fields.items()
    } == DOCUMENTED_VARIABLES


@pytest.mark.parametrize("name", list(DOCUMENTED_VARIABLES))
def test_each_variable_reaches_the_global_policy_the_ticket_and_the_api(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    _unset_policy_variables(monkeypatch)
    value, written = _not_the_default(name)
    monkeypatch.setenv(DOCUMENTED_VARIABLES[name], written)
    settings = Settings(_env_file=None)

    assert getattr(settings.policy, name) == value
    shown = EffectivePolicy.model_validate(
        applied_policy(settings, "m-1", None).values.model_dump()
    )
    assert getattr(shown, name) == value
    if name not in OpeningRules.model_fields:
        assert getattr(ticket_policy(settings, "CNY"), name) == value


@pytest.mark.parametrize("name", list(Policy.model_fields))
def test_each_field_a_merchant_overrides_reaches_its_policy_and_tickets(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    _unset_policy_variables(monkeypatch)
    settings = Settings(_env_file=None)
    value = 123 if name == PER_CURRENCY else _not_the_default(name)[0]
    body = PolicyUpdate.model_validate({name: TypeAdapter(Any).dump_python(value, mode="json")})
    stored = MerchantPolicy(
        merchant_id="m-1", version=2, overrides=body.model_dump(mode="json", exclude_none=True)
    )

    applied = applied_policy(settings, "m-1", stored)

    assert applied.version == "m-1-v2" and list(applied.overrides) == [name]
    assert getattr(applied.values, name) == value
    if name not in OpeningRules.model_fields:
        assert getattr(ticket_policy(settings, "CNY", applied), name) == value


def test_durations_are_iso_8601_or_plain_seconds_and_thresholds_are_per_currency(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _unset_policy_variables(monkeypatch)
    monkeypatch.setenv("DEADLINE_MERCHANT_REVIEW", "30")
    monkeypatch.setenv("DEADLINE_RESHIP", "2.5")
    monkeypatch.setenv("DEADLINE_BUYER_RETURN", "PT40S")
    monkeypatch.setenv("REMINDERS_BEFORE_REVIEW_DEADLINE", "PT30S, 10")
    monkeypatch.setenv("REFUND_SECOND_APPROVAL_THRESHOLDS", "CNY=100")
    settings = Settings(_env_file=None)

    assert settings.policy.merchant_review == timedelta(seconds=30)
    assert settings.policy.reship == timedelta(seconds=2.5)
    assert settings.policy.buyer_return == timedelta(seconds=40)
    assert settings.policy.review_reminders == [timedelta(seconds=30), timedelta(seconds=10)]
    assert ticket_policy(settings, "CNY").second_approval_threshold == 100
    assert ticket_policy(settings, "USD").second_approval_threshold == 500000


def test_a_recorded_payload_with_every_field_encodes_back_to_the_same_json() -> None:
    recorded, started = _started_with("exchange_completed.json")
    # Recorded before tickets carried their merchant's rules: those decode as none. Return labels
    # decode as the default, on; the ticket asks for none all the same (its history has no
    # `return-labels` marker: workflows/return_steps.py).
    assert set(recorded) | {
        "rules",
        "buyer_evidence",
        "return_labels",
        "difference_payment",
    } == set(TicketPolicy.model_fields)
    assert started.policy.model_dump(mode="json") == {
        **recorded,
        "rules": None,
        "buyer_evidence": "P3D",
        "return_labels": True,
        "difference_payment": "P3D",
    }


def test_a_payload_from_before_the_newer_fields_decodes_with_the_spec_defaults() -> None:
    recorded, started = _started_with("refund_before_shipment_polled.json")

    assert started.policy.model_dump(mode="json") == {
        **recorded,
        "review_reminders": ["P1D", "PT2H"],
        "buyer_return": "P7D",
        "return_delivery": "P15D",
        "warehouse_checkin": "P10D",
        "resolve_inspection": "P2D",
        "reship": "P2D",
        "confirm_receipt": "P10D",
        "rules": None,
        "buyer_evidence": "P3D",
        "return_labels": True,
        "difference_payment": "P3D",
    }
    assert started.policy == TicketPolicy(
        version="test",
        merchant_review=timedelta(hours=48),
        buyer_after_rejection=timedelta(days=7),
        refund_settlement=timedelta(days=7),
        refund_status_poll=timedelta(hours=1),
        second_approval_threshold=500000,
        refund_shipping_on_merchant_fault=True,
    )
