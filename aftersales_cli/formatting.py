"""Amounts, moments, durations and listings as an operator reads them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from domain.money import UnknownCurrency, format_minor


def money(amount: int | None, currency: str) -> str:
    """Integer minor units in major units with the currency: 30500 CNY -> `CNY 305.00`."""
    if amount is None:
        return "-"
    try:
        return format_minor(amount, currency)
    except UnknownCurrency:
        return f"{currency} {amount} (minor units)"


def moment(at: datetime | None) -> str:
    """UTC, to the second: `2026-11-23 08:00:00Z`."""
    if at is None:
        return "-"
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def iso(at: datetime | None) -> str:
    """ISO 8601 in UTC for files: `2026-11-23T08:00:00.123456Z`; empty when unset."""
    if at is None:
        return ""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def span(length: timedelta) -> str:
    """The two largest units: `3d 4h`, `2h 5m`, `4m 10s`, `12s`."""
    seconds = max(0, int(length.total_seconds()))
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")]
    while len(parts) > 1 and parts[0][0] == 0:
        parts.pop(0)
    return " ".join(f"{value}{unit}" for value, unit in parts[:2])


def listing(heading: str, table: Table) -> RenderableType:
    """A heading on a line of its own (a table's title would wrap to the table's width), and
    the table only when it has rows."""
    said = Text(heading)
    return Group(said, table) if table.row_count else said
