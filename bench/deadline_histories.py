"""Where an automatic approval's lateness comes from, read in the ticket's Temporal history: from
the review deadline to the timer firing, the worker's workflow task, the two activities the
approval waits for (a fresh risk assessment, the refund grant) and the recorded step."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

from contracts.activities import ASSESS_RISK, GRANT_REFUND

# Each step the history shows between the deadline and the recorded approval, in order.
STEPS = (
    ("fired", "Temporal fired the review timer"),
    ("task", "the worker started the workflow task that saw it"),
    ("risk_started", "the risk assessment (an activity) started"),
    ("risk_done", "the risk assessment completed"),
    ("grant_done", "the refund grant (an activity) completed"),
    ("recorded", "the approval was recorded (the `at` of its timeline entry)"),
)
E = EventType


def steps_after(
    events: Iterable[HistoryEvent], deadline: datetime, recorded: datetime
) -> dict[str, float] | None:
    """Seconds from `deadline` to each step of STEPS up to the approval recorded at `recorded`,
    from the last timer fired before it; None when the history does not show them all."""
    marks: dict[str, datetime] = {}
    activities: dict[int, str] = {}  # scheduled event id -> activity type
    for event in events:
        moment = event.event_time.ToDatetime(tzinfo=UTC)
        if moment > recorded:
            break
        kind = event.event_type
        if kind == E.EVENT_TYPE_TIMER_FIRED:
            marks = {"fired": moment}
        elif kind == E.EVENT_TYPE_WORKFLOW_TASK_STARTED and "fired" in marks:
            marks.setdefault("task", moment)
        elif kind == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled = event.activity_task_scheduled_event_attributes
            activities[event.event_id] = scheduled.activity_type.name
        elif kind == E.EVENT_TYPE_ACTIVITY_TASK_STARTED and "fired" in marks:
            started = event.activity_task_started_event_attributes.scheduled_event_id
            if activities.get(started) == ASSESS_RISK:
                marks.setdefault("risk_started", moment)
        elif kind == E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED and "fired" in marks:
            name = activities.get(event.activity_task_completed_event_attributes.scheduled_event_id)
            if name == ASSESS_RISK:
                marks.setdefault("risk_done", moment)
            elif name == GRANT_REFUND:
                marks.setdefault("grant_done", moment)
    marks["recorded"] = recorded
    if any(step not in marks for step, _ in STEPS):
        return None
    return {step: (marks[step] - deadline).total_seconds() for step, _ in STEPS}
