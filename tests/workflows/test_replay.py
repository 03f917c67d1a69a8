"""Tickets already running must stay replayable: a change to workflow code that alters the
command sequence of a recorded history fails here, unless it is behind `workflow.patched`."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.workflows import service_histories
from tests.workflows.record_histories import AFTER_COMMIT, RECORDED_AFTER_COMMIT
from workflows.ticket import RECORD_AFTER_COMMIT, TicketWorkflow

HISTORIES = {
    path.stem: path.read_text()
    for path in sorted(Path(__file__).with_name("histories").glob("*.json"))
}


def test_every_recorded_flow_has_a_history() -> None:
    assert {
        "refund_before_shipment_webhook",
        "refund_before_shipment_polled",
        "refund_before_shipment_failed",
        "second_approval_granted",
        "second_approval_declined",
        "refund_before_shipment_risk_checked",
        "refund_before_shipment_notified",
        "refund_failed_then_retried",
        "refund_after_shipment_approved",
        "review_timeout_auto_approved",
        "review_timeout_escalated_then_partial_refund",
        "rejected_escalated_arbitrated",
        "cancelled_in_review",
        "return_refunded_after_inspection",
        "return_buyer_timeout",
        "return_checkin_timeout_refunded",
        "return_inspection_failed_partial_refund",
        "return_lost_refunded",
        "exchange_completed",
        "exchange_cheaper_difference_refunded",
        "exchange_dearer_difference_paid",
        "exchange_dearer_unpaid_refunded",
        "exchange_cheaper_difference_declined_reshipped",
        "refund_before_shipment_settled_with_its_step",
        "return_refunded_settled_with_its_step",
        "return_refunded_poll_stopped",
        "return_delivered_found_by_poll",
        "rule_kept_item_with_bonus",
        "rule_fast_refund_on_first_scan",
        "rule_evidence_then_kept",
        "return_shipped_by_label_refunded",
    } <= set(HISTORIES)
    assert set(service_histories.RECORDERS) <= set(HISTORIES)
    assert {f"{name}{AFTER_COMMIT}" for name in RECORDED_AFTER_COMMIT} <= set(HISTORIES)


def _patches(events: list[dict[str, object]]) -> set[str]:
    found = set()
    for event in events:
        marker = event.get("markerRecordedEventAttributes")
        if isinstance(marker, dict) and marker.get("markerName") == "core_patch":
            payload = marker["details"]["patch-data"]["payloads"][0]["data"]
            found.add(json.loads(base64.b64decode(payload))["id"])
    return found


def _scheduled(events: list[dict[str, object]]) -> list[str]:
    return [
        event["activityTaskScheduledEventAttributes"]["activityType"]["name"]  # type: ignore[index]
        for event in events
        if "activityTaskScheduledEventAttributes" in event
    ]


@pytest.mark.parametrize("name", sorted(RECORDED_AFTER_COMMIT))
def test_histories_after_commit_write_each_step_in_a_regular_activity(name: str) -> None:
    before = json.loads(HISTORIES[name])["events"]
    after = json.loads(HISTORIES[f"{name}{AFTER_COMMIT}"])["events"]
    assert RECORD_AFTER_COMMIT not in _patches(before)
    assert "record_transition" not in _scheduled(before)
    assert RECORD_AFTER_COMMIT in _patches(after)
    assert _scheduled(after).count("record_transition") >= 2


@pytest.mark.parametrize("name", sorted(HISTORIES))
async def test_recorded_history_replays(name: str) -> None:
    history = WorkflowHistory.from_json(name, HISTORIES[name])
    await Replayer(
        workflows=[TicketWorkflow, *service_histories.WORKFLOWS],
        data_converter=pydantic_data_converter,
    ).replay_workflow(history)
