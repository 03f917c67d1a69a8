"""Patched paths that only a fault takes have a recorded history that takes them, so the replay
test holds tickets that went down those paths to their commands."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.workflows.record_histories import PATCHED_PATHS
from tests.workflows.test_replay import HISTORIES, _patches
from workflows.return_parcel import POLL_BY_RETRIES
from workflows.review_steps import NO_REMINDER_PAST_THE_DEADLINE
from workflows.settlement_steps import SETTLED_WITH_ITS_STEP
from workflows.ticket_record import DELIVER_ONLY_WHAT_IS_SENT, UNSTORABLE_STEP_TO_SUPPORT


def _events(name: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = json.loads(HISTORIES[name])["events"]
    return events


def _steps(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The steps the history asked `record_transition` to write, in order."""
    return [
        json.loads(base64.b64decode(scheduled["input"]["payloads"][0]["data"]))
        for event in events
        if (scheduled := event.get("activityTaskScheduledEventAttributes"))
        and scheduled["activityType"]["name"] == "record_transition"
    ]


@pytest.mark.parametrize(("patch", "name"), sorted(PATCHED_PATHS.items()))
def test_a_patched_path_has_a_recorded_history_that_takes_it(patch: str, name: str) -> None:
    assert name in HISTORIES
    assert patch in _patches(_events(name))


def test_the_unstorable_step_was_refused_once_then_recorded_for_support() -> None:
    events = _events(PATCHED_PATHS[UNSTORABLE_STEP_TO_SUPPORT])
    [failed] = [e for e in events if "activityTaskFailedEventAttributes" in e]
    info = failed["activityTaskFailedEventAttributes"]["failure"]["applicationFailureInfo"]
    assert (info["type"], info["nonRetryable"]) == ("UnstorableData", True)
    steps = [(s["event"], s["escalated"]) for s in _steps(events)]
    assert steps[1:3] == [("rejected_by_merchant", None), ("rejected_by_merchant", True)]
    assert "\x00" in _steps(events)[1]["reason"] and "\ufffd" in _steps(events)[2]["reason"]


def test_the_reminder_missed_past_the_deadline_was_not_sent() -> None:
    steps = [s["event"] for s in _steps(_events(PATCHED_PATHS[NO_REMINDER_PAST_THE_DEADLINE]))]
    assert steps[:2] == ["submitted_for_review", "approved_automatically"]
    assert "merchant_reminded" not in steps


@pytest.mark.parametrize(
    "name",
    ["refund_before_shipment_settled_with_its_step", "return_refunded_settled_with_its_step"],
)
def test_a_settled_refund_is_booked_by_the_step_that_reports_it(name: str) -> None:
    events = _events(name)
    assert {SETTLED_WITH_ITS_STEP, DELIVER_ONLY_WHAT_IS_SENT} <= _patches(events)
    scheduled = [
        attributes["activityType"]["name"]
        for event in events
        if (attributes := event.get("activityTaskScheduledEventAttributes"))
    ]
    assert "settle_refund" not in scheduled and "deliver_notifications" not in scheduled
    assert _steps(events)[-1]["settlement"]["status"] == "succeeded"


def test_a_stopped_courier_poll_is_cancelled_before_the_ticket_ends() -> None:
    events = _events(PATCHED_PATHS[POLL_BY_RETRIES])
    [scheduled] = [
        event["eventId"]
        for event in events
        if event.get("activityTaskScheduledEventAttributes", {}).get("activityType", {}).get("name")
        == "track_parcel"
    ]
    poll = [
        event["eventType"]
        for event in events
        if any(
            isinstance(value, dict) and value.get("scheduledEventId") == scheduled
            for value in event.values()
        )
    ]
    assert poll[-2:] == [
        "EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED",
        "EVENT_TYPE_ACTIVITY_TASK_CANCELED",
    ]
    assert events[-1]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"
