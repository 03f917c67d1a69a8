"""The time-skipping server's clock, and a defect of that server the simulation works around.

The server skips time only while nothing holds its clock: every activity holds it while it runs.
An activity its workflow abandoned (the parcel poll, `ActivityCancellationType.ABANDON`) and that
was still running when the workflow closed holds it for ever: the server releases the hold only
when the activity's end is recorded, and a closed workflow records nothing. Each such activity is
found in its run's history (scheduled, never ended) and its hold released once, before the clock
next jumps. Any other activity left running by a closed workflow is reported: the engine lets
its workflows end only after their activities.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.api.testservice.v1 import UnlockTimeSkippingRequest
from temporalio.testing import WorkflowEnvironment

import contracts as c

# The one activity a ticket abandons when it moves on (workflows/return_steps.py).
ABANDONED = c.TRACK_PARCEL
_ENDS = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "activity_task_completed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: "activity_task_failed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "activity_task_timed_out_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: "activity_task_canceled_event_attributes",
}


class Clock:
    def __init__(self, env: WorkflowEnvironment) -> None:
        self._env = env
        self._runs_seen: set[str] = set()
        self._holds = 0  # left by abandoned activities, not yet released

    async def now(self) -> datetime:
        return await self._env.get_current_time()

    async def closed_run(self, ticket_no: str, run_id: str) -> list[str]:
        """Look once at a closed run: the holds it left, and what else it left running."""
        if run_id in self._runs_seen:
            return []
        self._runs_seen.add(run_id)
        handle = self._env.client.get_workflow_handle(ticket_no, run_id=run_id)
        scheduled: dict[int, str] = {}
        ended: set[int] = set()
        async for event in handle.fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                attributes = event.activity_task_scheduled_event_attributes
                scheduled[event.event_id] = attributes.activity_type.name
            elif event.event_type in _ENDS:
                ended.add(getattr(event, _ENDS[event.event_type]).scheduled_event_id)
        running = [name for event_id, name in scheduled.items() if event_id not in ended]
        self._holds += running.count(ABANDONED)
        return [
            f"{ticket_no}: its workflow closed while {name} still ran"
            for name in running
            if name != ABANDONED
        ]

    async def jump(self, duration: timedelta) -> datetime:
        """Jump; returns the moment the jump ended."""
        for _ in range(self._holds):
            await self._env.client.test_service.unlock_time_skipping(UnlockTimeSkippingRequest())
        self._holds = 0
        await self._env.sleep(duration)
        return await self.now()
