"""How late a ticket's timer fired, and how the timeline says so (SPEC §3: every deadline fires,
also after an outage).

A durable timer that fell due while the worker or Temporal was down fires once they are back,
and one that fell due while the worker had more to do than it could do at once waits for its
turn; the step it wakes then runs at a later moment than its due one (the engine cannot tell
which of the two it was). Below the tolerance that is the engine's ordinary latency, not worth
a word.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from domain.durations import describe, describe_span

LATE_TOLERANCE = timedelta(seconds=1)
UNAVAILABLE = "the engine was down or too busy to act on time"


def lateness(due: datetime, now: datetime) -> timedelta | None:
    """How far past `due` the moment `now` is, when that is more than the tolerance."""
    late = now - due
    return late if late > LATE_TOLERANCE else None


def late_by_seconds(late: timedelta) -> int:
    return int(late.total_seconds())


def applied_late(reason: str, data: dict[str, Any], late: timedelta) -> tuple[str, dict[str, Any]]:
    """A deadline's outcome applied `late`: its reason and data say by how much."""
    told = f"{reason} (applied {describe_span(late)} late: {UNAVAILABLE})"
    return told, {**data, "late_by_seconds": late_by_seconds(late)}


def merchant_reminder(
    merchant_id: str, before: timedelta, left: timedelta, late: timedelta | None
) -> tuple[str, dict[str, Any]]:
    """The reminder due `before` the review deadline, sent with `left` to go, and its data.

    On time it says `before` as the policy words it; sent late, the time really left."""
    if late is None:
        words, data = describe(before), {"left_seconds": int(before.total_seconds())}
    else:
        words = describe_span(left)
        data = {"left_seconds": int(left.total_seconds()), "late_by_seconds": late_by_seconds(late)}
    reason = f"reminder to merchant {merchant_id}: {words} left to review the ticket"
    if late is not None:
        reason += f" (sent {describe_span(late)} late: {UNAVAILABLE})"
    return reason, data
