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


# The units a measured span is told in, largest first; days only from three days up, as above.
_SPAN_UNITS = ((86400, "days"), (3600, "h"), (60, "min"), (1, "s"))


def describe_span(duration: timedelta) -> str:
    """A measured span (time left, lateness) in its two largest units, cut down, never rounded
    up: "13 h 59 min", "2 min 3 s", "4 days 2 h"; "under 1 s" below a second."""
    seconds = int(duration.total_seconds())
    if seconds < 1:
        return "under 1 s"
    parts: list[str] = []
    for size, unit in _SPAN_UNITS:
        if size == 86400 and seconds < 3 * 86400:
            continue
        count, seconds = divmod(seconds, size)
        if count or parts:
            parts.append(f"{count} {unit}")
        if len(parts) == 2:
            break
    return " ".join(part for part in parts if not part.startswith("0 "))
