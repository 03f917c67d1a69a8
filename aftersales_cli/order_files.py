"""Order files for `orders import`: each order read as the body of `PUT /v1/orders/{order_id}`.

CSV: one row per order line, the order's fields repeated on each of its rows; consecutive rows
with the same `order_id` and `version` are one order. JSON Lines: one order per line, the API's
body plus `order_id`. Nothing is checked here but the file's shape: the API's models check the
rest.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import IO, Any

# The order's columns, repeated on every row of the order; `payment_*` are `payment.*`.
ORDER_COLUMNS = (
    "order_id",
    "version",
    "buyer_id",
    "merchant_id",
    "currency",
    "status",
    "shipped_at",
    "delivered_at",
    "shipping_fee",
    "payment_provider",
    "payment_reference",
    "payment_method",
    "payment_paid_total",
    "payment_paid_at",
)
# The line's columns, one line per row.
LINE_COLUMNS = ("line_id", "sku", "title", "quantity", "unit_price", "discount")
# Columns a file may leave out: their cells are empty for every row.
OPTIONAL_COLUMNS = frozenset(
    {"shipped_at", "delivered_at", "shipping_fee", "payment_paid_at", "discount"}
)
# Cells read as integers (minor units, counts, versions); any other text is left for the API's
# model to refuse, as it refuses `"5"` in JSON.
INTEGER_COLUMNS = frozenset(
    {"version", "shipping_fee", "payment_paid_total", "quantity", "unit_price", "discount"}
)
_INTEGER = re.compile(r"[+-]?[0-9]+")
_PAYMENT = "payment_"


class FileFormat(StrEnum):
    csv = "csv"
    jsonl = "jsonl"


class UnreadableFile(Exception):
    """The file cannot be read as its format at all (a usage error, nothing imported)."""


@dataclass(frozen=True)
class Refusal:
    code: str
    field: str
    reason: str


@dataclass(frozen=True)
class OrderRecord:
    """One order as the file gives it: the line it starts on, and its body or why it has none."""

    line: int
    order_id: str | None
    body: dict[str, Any] = field(default_factory=dict)
    refusal: Refusal | None = None
    # The file line of each order line (CSV: each row); JSON Lines: the one line.
    line_of_item: tuple[int, ...] = ()

    def line_of(self, field_name: str) -> int:
        """The file line a refused field is on: an order line's own row, else the first."""
        found = re.match(r"lines(?:\[|\.)([0-9]+)", field_name)
        if found and int(found[1]) < len(self.line_of_item):
            return self.line_of_item[int(found[1])]
        return self.line


def text_lines(file: IO[bytes], advance: Callable[[int], None]) -> Iterator[str]:
    """The file's lines as text, reporting each line's bytes as read."""
    for number, raw in enumerate(file, start=1):
        advance(len(raw))
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise UnreadableFile(f"line {number} is not UTF-8: {error}") from None
        yield text.removeprefix("\ufeff") if number == 1 else text


def read_jsonl(lines: Iterator[str]) -> Iterator[OrderRecord]:
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            body = json.loads(text)
        except json.JSONDecodeError as error:
            yield _refused(number, None, "body", f"not JSON: {error}")
            continue
        if not isinstance(body, dict):
            yield _refused(number, None, "body", "a JSON object is expected")
            continue
        order_id = body.pop("order_id", None)
        if not isinstance(order_id, str):
            yield _refused(number, None, "order_id", "a string order_id is required")
            continue
        yield OrderRecord(number, order_id, body, line_of_item=(number,))


def read_csv(lines: Iterator[str]) -> Iterator[OrderRecord]:
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise UnreadableFile("the file is empty: a header row is expected")
    _check_header(header)
    group: list[tuple[int, dict[str, str]]] = []
    last_line = reader.line_num
    for cells in reader:
        start, last_line = last_line + 1, reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header):
            yield from _flush(group)
            group = []
            reason = f"{len(cells)} cells, the header has {len(header)}"
            yield _refused(start, cells[0] or None, "body", reason)
            continue
        row = dict(zip(header, [cell.strip() for cell in cells], strict=False))
        if group and _snapshot_of(row) != _snapshot_of(group[0][1]):
            yield from _flush(group)
            group = []
        group.append((start, row))
    yield from _flush(group)


def _snapshot_of(row: dict[str, str]) -> tuple[str, str]:
    """Rows of one order snapshot: the same order at the same version."""
    return row.get("order_id", ""), row.get("version", "")


def _check_header(header: list[str]) -> None:
    known = {*ORDER_COLUMNS, *LINE_COLUMNS}
    unknown = [name for name in header if name not in known]
    missing = [name for name in (*ORDER_COLUMNS, *LINE_COLUMNS) if name not in header]
    missing = [name for name in missing if name not in OPTIONAL_COLUMNS]
    if unknown or missing or len(set(header)) != len(header):
        raise UnreadableFile(
            f"the CSV header must name the columns {', '.join((*ORDER_COLUMNS, *LINE_COLUMNS))} "
            f"once each (optional: {', '.join(sorted(OPTIONAL_COLUMNS))}); "
            f"unknown: {', '.join(unknown) or 'none'}, missing: {', '.join(missing) or 'none'}"
        )


def _flush(group: list[tuple[int, dict[str, str]]]) -> Iterator[OrderRecord]:
    """The rows of one order as its body; refused when they disagree on an order field."""
    if not group:
        return
    first_line, first = group[0]
    order_id = first.get("order_id") or None
    for line, row in group[1:]:
        for name in ORDER_COLUMNS:
            if row.get(name, "") != first.get(name, ""):
                reason = (
                    f"line {line} has {name} {row.get(name, '')!r}, line {first_line} has "
                    f"{first.get(name, '')!r}: every row of an order repeats its order fields"
                )
                yield _refused(line, order_id, name, reason)
                return
    if order_id is None:
        yield _refused(first_line, None, "order_id", "an order_id is required")
        return
    body: dict[str, Any] = {"payment": {}}
    for name in ORDER_COLUMNS[1:]:
        value = _cell(name, first.get(name, ""))
        if value is None:
            continue
        if name.startswith(_PAYMENT):
            body["payment"][name.removeprefix(_PAYMENT)] = value
        else:
            body[name] = value
    body["lines"] = [
        {
            name: value
            for name in LINE_COLUMNS
            if (value := _cell(name, row.get(name, ""))) is not None
        }
        for _, row in group
    ]
    yield OrderRecord(first_line, order_id, body, line_of_item=tuple(line for line, _ in group))


def _cell(name: str, text: str) -> Any:
    """An empty cell is a field left out; an integer column's digits are its number."""
    if not text:
        return None
    if name in INTEGER_COLUMNS and _INTEGER.fullmatch(text):
        return int(text)
    return text


def _refused(line: int, order_id: str | None, field_name: str, reason: str) -> OrderRecord:
    return OrderRecord(line, order_id, refusal=Refusal("validation_error", field_name, reason))
