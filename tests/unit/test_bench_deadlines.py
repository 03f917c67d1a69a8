"""The deadline benchmark's arithmetic: where the common deadline falls, the review time each
batch is opened under, and the percentiles of lateness. Nothing here is timed."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.api.common.v1 import ActivityType
from temporalio.api.enums.v1 import EventType as E
from temporalio.api.history.v1 import (
    ActivityTaskCompletedEventAttributes,
    ActivityTaskScheduledEventAttributes,
    ActivityTaskStartedEventAttributes,
    HistoryEvent,
)

from bench.deadline_histories import STEPS, steps_after
from bench.deadline_plan import (
    Lateness,
    TargetMissed,
    batch_starts,
    checkpoints,
    percentile,
    review_seconds,
    target_after,
)
from bench.deadline_report import Decision, Footprint, Results, section
from contracts.activities import ASSESS_RISK, GRANT_REFUND
from domain.events import TicketEvent

NOW = datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)


def test_the_common_deadline_follows_the_last_planned_opening_and_its_lead() -> None:
    target = target_after(NOW, 1000, 8.0, timedelta(seconds=30))
    # 1000 at 8/s is 125 s; with the lead and the quarter second rounded up to a whole second.
    assert target == datetime(2026, 3, 1, 12, 2, 36, tzinfo=UTC)


def test_a_rate_that_does_not_divide_the_count_plans_whole_seconds_later() -> None:
    on_the_second = NOW.replace(microsecond=0)
    assert target_after(on_the_second, 10, 3.0, timedelta(0)) == on_the_second + timedelta(
        seconds=4
    )


def test_nothing_to_open_or_no_rate_is_no_plan() -> None:
    with pytest.raises(ValueError):
        target_after(NOW, 0, 8.0, timedelta(0))
    with pytest.raises(ValueError):
        target_after(NOW, 10, 0.0, timedelta(0))


def test_a_batch_is_given_the_time_left_rounded_up_so_no_deadline_falls_before_the_target() -> None:
    target = datetime(2026, 3, 1, 12, 5, tzinfo=UTC)
    seconds = review_seconds(target, NOW, timedelta(seconds=15))
    assert seconds == 300  # 299.75 s left
    # A ticket submitted for review the moment its batch's policy was set ends at the target
    # or after it; one submitted later, later by as much.
    assert NOW + timedelta(seconds=seconds) >= target


def test_later_batches_get_shorter_reviews_towards_the_same_target() -> None:
    target = datetime(2026, 3, 1, 12, 5, tzinfo=UTC)
    least = timedelta(seconds=15)
    reviews = [review_seconds(target, NOW + timedelta(seconds=s), least) for s in (0, 60, 120)]
    assert reviews == [300, 240, 180]


def test_a_batch_too_close_to_the_target_is_refused() -> None:
    target = NOW + timedelta(seconds=10)
    with pytest.raises(TargetMissed, match="10 s left"):
        review_seconds(target, NOW, timedelta(seconds=15))
    with pytest.raises(TargetMissed):
        review_seconds(target, target + timedelta(seconds=1), timedelta(seconds=15))


def test_batches_start_every_batch_size_tickets() -> None:
    assert batch_starts(120, 50) == [0, 50, 100]
    assert batch_starts(0, 50) == []
    with pytest.raises(ValueError):
        batch_starts(10, 0)


def test_footprint_checkpoints_divide_the_count_and_add_the_cache_size_below_it() -> None:
    assert checkpoints(1000, 4) == [250, 500, 750, 1000]
    assert checkpoints(10_000, 4, also=[1000]) == [1000, 2500, 5000, 7500, 10_000]
    # A cache larger than the count adds nothing; nor does a mark already there.
    assert checkpoints(800, 4, also=[1000, 400]) == [200, 400, 600, 800]
    assert checkpoints(3, 4) == [1, 2, 3]


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1 .. 100
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile(values, 0.0) == 1.0
    assert percentile(list(reversed(values)), 0.5) == 50.0


def test_a_percentile_just_above_a_rank_in_binary_floating_point_stays_on_it() -> None:
    # 0.99 * 300 is 297.00000000000006: the 297th value, not the 298th.
    values = [float(v) for v in range(1, 301)]
    assert percentile(values, 0.99) == 297.0


def test_a_few_values_round_up_to_the_next_rank() -> None:
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([3.0, 1.0, 2.0], 0.99) == 3.0
    assert percentile([7.0], 0.99) == 7.0


def test_no_values_or_a_share_outside_zero_and_one_is_refused() -> None:
    with pytest.raises(ValueError):
        percentile([], 0.5)
    with pytest.raises(ValueError):
        percentile([1.0], 1.5)


def test_lateness_is_each_outcome_after_its_own_deadline() -> None:
    deadline = datetime(2026, 3, 1, 12, 5, tzinfo=UTC)
    pairs = [
        (deadline + timedelta(seconds=i), deadline + timedelta(seconds=i, milliseconds=100 * i))
        for i in range(1, 11)
    ]
    late = Lateness.of(pairs)
    assert late.count == 10
    assert late.p50 == pytest.approx(0.5)
    assert late.p99 == pytest.approx(1.0)
    assert late.max == pytest.approx(1.0)
    assert late.min == pytest.approx(0.1)


def _event(event_id: int, kind: E.ValueType, seconds: float, **attributes: Any) -> HistoryEvent:
    event = HistoryEvent(event_id=event_id, event_type=kind, **attributes)
    event.event_time.FromDatetime(DEADLINE + timedelta(seconds=seconds))
    return event


def _scheduled(event_id: int, seconds: float, name: str) -> HistoryEvent:
    attributes = ActivityTaskScheduledEventAttributes(activity_type=ActivityType(name=name))
    return _event(
        event_id,
        E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        seconds,
        activity_task_scheduled_event_attributes=attributes,
    )


def _activity(event_id: int, kind: E.ValueType, seconds: float, scheduled: int) -> HistoryEvent:
    if kind == E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        started = ActivityTaskStartedEventAttributes(scheduled_event_id=scheduled)
        return _event(event_id, kind, seconds, activity_task_started_event_attributes=started)
    completed = ActivityTaskCompletedEventAttributes(scheduled_event_id=scheduled)
    return _event(event_id, kind, seconds, activity_task_completed_event_attributes=completed)


DEADLINE = datetime(2026, 3, 1, 12, 5, tzinfo=UTC)


def _approval_history() -> list[HistoryEvent]:
    return [
        _event(1, E.EVENT_TYPE_WORKFLOW_TASK_STARTED, -60),
        _scheduled(2, -59, ASSESS_RISK),  # the opening's own risk assessment
        _activity(3, E.EVENT_TYPE_ACTIVITY_TASK_STARTED, -59, 2),
        _activity(4, E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, -58, 2),
        _event(5, E.EVENT_TYPE_TIMER_FIRED, 0.25),
        _event(6, E.EVENT_TYPE_WORKFLOW_TASK_STARTED, 1.5),
        _scheduled(7, 1.6, ASSESS_RISK),
        _activity(8, E.EVENT_TYPE_ACTIVITY_TASK_STARTED, 2.0, 7),
        _activity(9, E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, 2.5, 7),
        _event(10, E.EVENT_TYPE_WORKFLOW_TASK_STARTED, 3.0),
        _scheduled(11, 3.1, GRANT_REFUND),
        _activity(12, E.EVENT_TYPE_ACTIVITY_TASK_STARTED, 3.5, 11),
        _activity(13, E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, 4.0, 11),
        _event(14, E.EVENT_TYPE_WORKFLOW_TASK_STARTED, 4.5),
        _event(15, E.EVENT_TYPE_WORKFLOW_TASK_STARTED, 9.0),  # after the approval
    ]


def test_an_approvals_lateness_is_split_into_the_steps_after_its_review_timer() -> None:
    steps = steps_after(_approval_history(), DEADLINE, DEADLINE + timedelta(seconds=4.5))
    assert steps == {
        "fired": 0.25,
        "task": 1.5,
        "risk_started": 2.0,
        "risk_done": 2.5,
        "grant_done": 4.0,
        "recorded": 4.5,
    }
    assert list(steps) == [step for step, _ in STEPS]


def test_a_history_without_the_review_timer_fired_gives_no_steps() -> None:
    before_the_timer = [e for e in _approval_history() if e.event_id < 5]
    assert steps_after(before_the_timer, DEADLINE, DEADLINE + timedelta(seconds=4.5)) is None


_STATUS_AFTER = {
    TicketEvent.approved_automatically: "completed",
    TicketEvent.escalated_instead_of_auto_approval: "under_arbitration",
}


def _decision(no: str, event: TicketEvent | None, late: float | None) -> Decision:
    at = None if late is None else DEADLINE + timedelta(seconds=late)
    return Decision(
        ticket_no=no,
        deadline=DEADLINE,
        event=event,
        at=at,
        reason="escalated to support instead of auto-approval: buyer on the watchlist",
        flagged_late=late is not None and late > 1,
        status="awaiting_merchant_review" if event is None else _STATUS_AFTER[event],
        closed_at=at,
    )


def _footprint(label: str, waiting: int, worker_mb: int) -> Footprint:
    mb = 2**20
    return Footprint(label, waiting, worker_mb * mb, 100 * mb, 100 * mb, None)


def test_the_section_reports_the_cost_per_ticket_and_what_was_not_approved() -> None:
    decisions = [
        _decision("AS1", TicketEvent.approved_automatically, 0.5),
        _decision("AS2", TicketEvent.approved_automatically, 1.5),
        _decision("AS3", TicketEvent.escalated_instead_of_auto_approval, 2.0),
        _decision("AS4", None, None),
    ]
    approved = [d for d in decisions if d.why_not_approved() is None]
    results = Results(
        requested=4,
        concurrency=2,
        rate_planned=6.0,
        target=DEADLINE,
        seconds=90.0,
        opening_seconds=2.0,
        refused=Counter(),
        given_up=0,
        adopted=0,
        stopped=None,
        policies=2,
        samples=[_footprint("before", 0, 100), _footprint("all waiting", 4, 104)],
        database=(8 * 2**20, 8 * 2**20 + 4 * 10 * 2**10),
        temporal_store=(0, 0),
        decisions=decisions,
        lateness=Lateness.of(d.deadline_and_at() for d in approved),
        timers=[],
        cache_setting="1000 workflows",
    )
    text = "\n".join(section("Deadlines", results, 1000))
    assert "**10.0 KB per ticket**" in text  # 40 KB more for 4 tickets
    assert "1024.0 KB per waiting ticket" in text  # 4 MB more worker RSS
    assert "| approved automatically (seller timeout) | 2 of 4 |" in text
    assert "escalated_instead_of_auto_approval: escalated to support" in text
    assert "still awaiting_merchant_review when the benchmark stopped waiting x1" in text
    assert "| lateness of the approval, max | 1.50 s |" in text
