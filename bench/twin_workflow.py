"""The bare twin: a workflow of the same shape as a ticket's (the same local activities,
activities, search-attribute upserts, timers and signals, in the same order) that does nothing
else. Its activities return at once; what it costs is what Temporal and the SDK cost for that
shape, the floor any ticket of that shape stands on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import SearchAttributeKey

TASK_QUEUE = "bench-twin"
SIGNAL = "event"
UPDATE = "approve"
# A keyword attribute the dev server has by default, upserted where the ticket upserts its own.
_STATUS = SearchAttributeKey.for_keyword("TemporalScheduledById")
_CALL = timedelta(seconds=30)


@workflow.defn(name="BareTwin")
class BareTwin:
    """`shape` lists the steps: `local`, `activity`, `upsert`, `timer` (a timer cancelled by
    the signal that follows it, as a ticket's wait for its refund's settlement is) and
    `signal`."""

    def __init__(self) -> None:
        self._signals = 0

    @workflow.signal(name=SIGNAL)
    def event(self, _payload: str) -> None:
        self._signals += 1

    @workflow.update(name=UPDATE)
    def approve(self, _payload: str) -> int:
        """A bare Update: taken and answered in the workflow task that delivers it; it counts as
        the signal the next step waits for, so an approved twin goes on and ends."""
        self._signals += 1
        return self._signals

    def _heard(self, count: int) -> Callable[[], bool]:
        return lambda: self._signals >= count

    @workflow.run
    async def run(self, shape: list[str]) -> int:
        seen = 0
        for step in shape:
            if step == "local":
                await workflow.execute_local_activity(
                    "twin_step", "x", start_to_close_timeout=_CALL
                )
            elif step == "activity":
                await workflow.execute_activity("twin_step", "x", start_to_close_timeout=_CALL)
            elif step == "upsert":
                workflow.upsert_search_attributes([_STATUS.value_set(f"s{seen}")])
            elif step in ("timer", "signal"):
                seen += 1
                wanted = seen
                timeout = timedelta(hours=1) if step == "timer" else None
                await workflow.wait_condition(self._heard(wanted), timeout=timeout)
        return seen
