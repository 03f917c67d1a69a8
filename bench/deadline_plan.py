"""The arithmetic of the deadline benchmark: when the common deadline falls, the review time each
batch of tickets is opened under so that its deadlines land there, and how late they acted.

A ticket freezes its merchant's policy when it is opened, and its review deadline is the moment
its workflow submits it for review plus the policy's `merchant_review`. A batch opened from `now`
under a review time of `target - now` therefore has its deadlines at `target` or a little after
(by as long as each ticket took from `now` to being submitted), never before.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


class TargetMissed(Exception):
    """Opening fell so far behind the plan that a batch's deadlines can no longer land at the
    target: fewer seconds are left than its openings take."""


def target_after(now: datetime, count: int, rate: float, lead: timedelta) -> datetime:
    """The common deadline for `count` tickets opened from `now` at `rate` per second: when the
    last one is opened, plus `lead` for its first steps; on a whole second."""
    if count < 1 or rate <= 0:
        raise ValueError(f"cannot plan {count} openings at {rate}/s")
    span = timedelta(seconds=math.ceil(count / rate)) + lead
    return _whole_second_at_or_after(now + span)


def _whole_second_at_or_after(moment: datetime) -> datetime:
    whole = moment.replace(microsecond=0)
    return whole if whole == moment else whole + timedelta(seconds=1)


def review_seconds(target: datetime, now: datetime, least: timedelta) -> int:
    """The merchant review time, in whole seconds, for a batch opened from `now`: its deadlines
    fall at `target` or just after. Raises TargetMissed when less than `least` is left."""
    left = target - now
    if left < least:
        raise TargetMissed(
            f"{left.total_seconds():.0f} s left before the common deadline, "
            f"less than the {least.total_seconds():.0f} s a batch needs"
        )
    return math.ceil(left.total_seconds())


def batch_starts(count: int, size: int) -> list[int]:
    """The index of the first ticket of each batch: the policy is set before it is opened."""
    if size < 1:
        raise ValueError(f"batch size {size}")
    return list(range(0, count, size))


def checkpoints(count: int, parts: int, also: Iterable[int] = ()) -> list[int]:
    """Numbers of open tickets at which the footprint is sampled while they are opened: every
    `parts`-th of `count`, and the numbers in `also` (a cache size, say) below `count`."""
    marks = {max(1, count * k // parts) for k in range(1, parts + 1)}
    marks |= {n for n in also if 0 < n < count}
    return sorted(marks)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest rank: the smallest value with at least a share `q` of all values at or below it."""
    if not values:
        raise ValueError("no values")
    if not 0 <= q <= 1:
        raise ValueError(f"share {q}")
    ordered = sorted(values)
    # Rounded first: 0.99 * 300 is 297.00000000000006 in binary floating point.
    rank = max(1, math.ceil(round(q * len(ordered), 9)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Lateness:
    """How long after their deadlines a set of outcomes were recorded, in seconds."""

    count: int
    p50: float
    p99: float
    max: float
    min: float

    @classmethod
    def of(cls, pairs: Iterable[tuple[datetime, datetime]]) -> Lateness:
        """From (deadline, recorded at) pairs."""
        seconds = [(at - deadline).total_seconds() for deadline, at in pairs]
        return cls(
            count=len(seconds),
            p50=percentile(seconds, 0.5),
            p99=percentile(seconds, 0.99),
            max=max(seconds),
            min=min(seconds),
        )
