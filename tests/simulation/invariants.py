"""The invariants of tickets and their deadlines, checked on a world at rest after every step
(the invariants of money are in `money.py`).

- Every ticket's row is its workflow's state: open tickets by the consistency check's comparison
  (`settle` returns only once it finds nothing apart), ended ones by asking the closed workflow.
- Every open ticket waits on a deadline in the future, or in a state that waits without one by
  design (SPEC §3: support's second approval, arbitration and a failed refund).
- Across a clock jump every deadline that fell in it acted, and nothing else moved.
"""

from __future__ import annotations

from datetime import datetime

from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

import contracts as c
from activities.consistency import compare
from tests.simulation.records import Row
from tests.simulation.world import World

# SPEC §3: support decides these with no deadline; every other waiting state has one.
WAITS_WITHOUT_DEADLINE = frozenset(
    {"awaiting_second_approval", "under_arbitration", "refund_failed"}
)


def deadline_violations(rows: dict[str, Row], now: datetime) -> list[str]:
    """`now`: when the world was found at rest, just before `rows` were read."""
    found = []
    for row in rows.values():
        if not row.open or (row.deadline_at is not None and row.deadline_at > now):
            continue
        if row.deadline_at is None and row.status in WAITS_WITHOUT_DEADLINE:
            continue
        when = row.deadline_at.isoformat() if row.deadline_at else "no deadline"
        found.append(f"{row.ticket_no} {row.status} at rest with {when} (now {now.isoformat()})")
    return found


def jump_violations(
    before: dict[str, Row],
    after: dict[str, Row],
    ended: datetime,
    rested: datetime,
    acted: str | None = None,
) -> list[str]:
    """Across a clock jump that `ended` (and a world at rest again at `rested`): every deadline
    that fell in the jump acted (or the action sent at that moment on `acted` did); a ticket
    whose deadline fell in neither moved not. The clock runs on between the two, at the wall's
    pace: a deadline that fell then may have acted or not yet."""
    found = []
    for no, was in before.items():
        row = after[no]
        deadline = was.deadline_at if was.open else None
        due = deadline is not None and deadline <= ended
        if due and row.version == was.version:
            found.append(f"{no}: deadline {was.deadline_at} passed in the jump and did not act")
        later = deadline is not None and deadline <= rested
        if not later and row.version != was.version and no != acted:
            found.append(
                f"{no}: moved {was.status} v{was.version} -> {row.status} v{row.version}"
                " in a jump that passed none of its deadlines"
            )
    return found


class EndedTickets:
    """Ended tickets' rows against their closed workflows, once per row version."""

    def __init__(self, world: World) -> None:
        self._world = world
        self._checked: dict[str, int] = {}

    async def violations(self, rows: dict[str, Row]) -> list[str]:
        found = []
        for no, row in rows.items():
            if row.open or self._checked.get(no) == row.version:
                continue
            handle = self._world.stack.temporal.client.get_workflow_handle(no)
            try:
                state = c.TicketSnapshot.model_validate(await handle.query(c.STATE_QUERY))
            except (WorkflowQueryFailedError, RPCError) as error:
                found.append(f"{no} {row.status}: its workflow's state cannot be read: {error}")
                continue
            snapshot = row.snapshot()
            if kinds := compare(snapshot, state):
                found.append(f"{no}: row {snapshot.brief()} but workflow {state.brief()} {kinds}")
            self._checked[no] = row.version
        return found
