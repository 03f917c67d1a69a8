"""The Temporal Schedules the worker keeps: the consistency check of SPEC §11.

`ensure_consistency_schedule` runs at every worker start: the first creates the schedule, later
ones find it and bring its interval and task queue in line with the settings.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from contracts import ConsistencyRequest
from settings import Settings
from workflows.consistency import ConsistencyCheckWorkflow

CONSISTENCY_SCHEDULE_ID = "ticket-consistency-check"


class Ensured(StrEnum):
    created = "created"
    updated = "updated"
    unchanged = "unchanged"


def consistency_schedule(settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ConsistencyCheckWorkflow.run,
            ConsistencyRequest(repair=True),
            # Temporal appends the scheduled time to this id for each run.
            id=CONSISTENCY_SCHEDULE_ID,
            task_queue=settings.temporal_task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=settings.consistency_check_every)]),
        # A check still running when the next is due makes that one pointless.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_consistency_schedule(client: Client, settings: Settings) -> Ensured:
    """Idempotent; another worker creating it at the same moment counts as success."""
    wanted = consistency_schedule(settings)
    try:
        await client.create_schedule(CONSISTENCY_SCHEDULE_ID, wanted)
        return Ensured.created
    except ScheduleAlreadyRunningError:
        pass
    handle = client.get_schedule_handle(CONSISTENCY_SCHEDULE_ID)
    if _matches((await handle.describe()).schedule, wanted):
        return Ensured.unchanged

    def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
        # Spec and action only: a pause an operator set stays.
        schedule = current.description.schedule
        schedule.spec, schedule.action = wanted.spec, wanted.action
        return ScheduleUpdate(schedule=schedule)

    await handle.update(update)
    return Ensured.updated


def _matches(current: Schedule, wanted: Schedule) -> bool:
    action = current.action
    assert isinstance(wanted.action, ScheduleActionStartWorkflow)
    return (
        isinstance(action, ScheduleActionStartWorkflow)
        and action.workflow == wanted.action.workflow
        and action.task_queue == wanted.action.task_queue
        and _intervals(current.spec) == _intervals(wanted.spec)
    )


def _intervals(spec: ScheduleSpec) -> list[tuple[timedelta, timedelta]]:
    return [(every.every, every.offset or timedelta(0)) for every in spec.intervals]
