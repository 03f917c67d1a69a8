"""Durations in the words a ticket's timeline uses: "48 h", "7 days", "90 s"."""

from __future__ import annotations

from datetime import timedelta


def describe(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    # SPEC §3 speaks of "48 h" but "7 days": whole days from three days up.
    if seconds % 86400 == 0 and seconds >= 3 * 86400:
        return f"{seconds // 86400} days"
    if seconds % 3600 == 0 and seconds >= 3600:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0 and seconds >= 60:
        return f"{seconds // 60} min"
    return f"{seconds} s"
