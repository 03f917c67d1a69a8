"""`aftersales orders import`: good orders stored, each bad one refused alone with its line."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from persistence.orders import get_order
from tests.cli.conftest import Cli
from tests.support.orders import line, new_order_id, order_body, put_order
from tests.support.stack import Stack

README = Path(__file__).resolve().parents[2] / "README.md"
HEADER = [
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
    "line_id",
    "sku",
    "title",
    "quantity",
    "unit_price",
    "discount",
]


def csv_rows(order_id: str, body: dict[str, Any], **cells: Any) -> list[list[Any]]:
    """One row per line of `body` (an API body), order fields repeated; `cells` overrides
    columns of every row, `cells["rows"]` a dict of overrides per row index."""
    payment = body["payment"]
    per_row: dict[int, dict[str, Any]] = cells.pop("rows", {})
    rows = []
    for index, item in enumerate(body["lines"]):
        values = {
            "order_id": order_id,
            "version": body["version"],
            "buyer_id": body["buyer_id"],
            "merchant_id": body["merchant_id"],
            "currency": body["currency"],
            "status": body["status"],
            "shipped_at": body.get("shipped_at", ""),
            "delivered_at": body.get("delivered_at", ""),
            "shipping_fee": body["shipping_fee"],
            "payment_provider": payment["provider"],
            "payment_reference": payment["reference"],
            "payment_method": payment["method"],
            "payment_paid_total": payment["paid_total"],
            "payment_paid_at": payment.get("paid_at", ""),
            **item,
            **cells,
            **per_row.get(index, {}),
        }
        rows.append([values[name] for name in HEADER])
    return rows


def refused_lines(output: str) -> dict[int, list[str]]:
    """Line number -> the other cells of its row in the refused table (order id, code, field,
    reason)."""
    found = {}
    for text in output.splitlines():
        cells = [cell.strip() for cell in text.split("│")[1:-1]]
        if len(cells) == 5 and cells[0].isdigit():
            found[int(cells[0])] = cells[1:]
    return found


async def test_a_csv_of_good_and_bad_orders_stores_exactly_the_good_ones(
    stack: Stack, cli: Cli, tmp_path: Path
) -> None:
    a, b, c, d, e, f, g = (new_order_id("CLI") for _ in range(7))
    two_lines = order_body([line("L1", 2, 1500), line("L2", 1, 800)], buyer="b-cli")
    changed = order_body([line("L1", 3, 1500), line("L2", 1, 800)], buyer="b-cli", version=2)
    delivered = order_body(
        [line("L1", 1, 99900)],
        buyer="b-cli",
        status="delivered",
        delivered_at="2026-11-22T08:00:00Z",
    )
    rows = [
        *csv_rows(a, two_lines),  # 2-3 created
        *csv_rows(b, order_body([line("L1", 1, 100)]), currency="XYZ"),  # 4 unknown currency
        *csv_rows(c, two_lines, rows={1: {"unit_price": -800}}),  # 5-6 negative price on 6
        *csv_rows(d, two_lines, rows={1: {"line_id": "L1"}}),  # 7-8 duplicate line id
        *csv_rows(a, two_lines),  # 9-10 unchanged
        *csv_rows(e, delivered),  # 11 created
        *csv_rows(a, changed),  # 12-13 updated
        *csv_rows(a, two_lines),  # 14-15 stale version
        *csv_rows(e, delivered, unit_price=99000, payment_paid_total=99000),  # 16 conflict
        *csv_rows(f, two_lines, rows={1: {"currency": "USD"}}),  # 17-18 rows disagree
        *csv_rows(g, order_body([line("L1", 1, 100)]), unit_price="12.5"),  # 19 not an integer
    ]
    path = tmp_path / "orders.csv"
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        writer.writerows(rows)

    result = await cli("orders", "import", str(path))
    async with stack.sessions() as session:
        stored = {x: await get_order(session, x) for x in (a, b, c, d, e, f, g)}

    assert result.exit_code == 1, result.output
    assert "2 created, 1 updated, 1 unchanged, 7 refused" in result.stdout
    refused = refused_lines(result.stdout)
    assert sorted(refused) == [4, 6, 7, 14, 16, 18, 19], result.stdout
    assert refused[4][:3] == [b, "invalid_order", "currency"] and "'XYZ'" in refused[4][3]
    assert refused[6][:3] == [c, "validation_error", "lines[1].unit_price"]
    assert "greater than or equal to 0" in refused[6][3]
    assert refused[7][:3] == [d, "invalid_order", "body"]
    assert "duplicate line_id: L1" in refused[7][3]
    assert refused[14][:3] == [a, "stale_order_version", "version"]
    assert "version 2; version 1 is older" in refused[14][3]
    assert refused[16][:3] == [e, "order_version_conflict", "version"]
    assert refused[18][:3] == [f, "validation_error", "currency"] and "'USD'" in refused[18][3]
    assert refused[19][:3] == [g, "validation_error", "lines[0].unit_price"]
    assert "valid integer" in refused[19][3]
    # The progress bar, drawn once at the end when the output is not a terminal.
    assert "importing orders.csv" in result.stderr and "100%" in result.stderr
    order_a, order_e = stored.pop(a), stored.pop(e)
    assert set(stored.values()) == {None}
    assert order_a is not None and order_a.version == 2
    assert [(x.line_id, x.quantity, x.unit_price) for x in order_a.lines] == [
        ("L1", 3, 1500),
        ("L2", 1, 800),
    ]
    assert order_e is not None and order_e.status == "delivered"
    assert order_e.lines[0].unit_price == 99900 and order_e.payment["paid_total"] == 99900


async def test_json_lines_import_the_api_bodies_and_a_dry_run_stores_nothing(
    stack: Stack, cli: Cli, tmp_path: Path
) -> None:
    good, other, odd, stale, fresh = (new_order_id("CLJ") for _ in range(5))
    async with stack.client("platform:shop") as platform:
        await put_order(platform, stale, order_body([line("L1", 1, 500)], version=3))
    body = order_body([line("L1", 1, 2000)], buyer="b-cli", currency="JPY")
    lines = [
        json.dumps({"order_id": good, **body}),  # 1 created
        "",  # 2 blank, skipped
        "{not json",  # 3
        json.dumps({"order_id": odd, **body, "currency": "ABC"}),  # 4 unknown currency
        json.dumps({"order_id": other, **body, "colour": "red"}),  # 5 unknown field
        json.dumps({"order_id": other, **body}),  # 6 created
        json.dumps({"order_id": stale, **order_body([line("L1", 1, 500)], version=2)}),  # 7
        json.dumps(body),  # 8 no order id
    ]
    path = tmp_path / "orders.jsonl"
    path.write_text("\n".join(lines) + "\n")
    dry = tmp_path / "dry.ndjson"
    dry.write_text(
        json.dumps({"order_id": fresh, **body})
        + "\n"
        + json.dumps({"order_id": good, **body, "version": 0})
        + "\n"
    )

    result = await cli("orders", "import", str(path))
    again = await cli("orders", "import", "--format", "jsonl", str(path))
    checked = await cli("orders", "import", "--dry-run", str(dry))
    unknown_format = await cli(
        "orders", "import", str(tmp_path / "orders.jsonl"), "--format", "xml"
    )
    async with stack.sessions() as session:
        stored = {x: await get_order(session, x) for x in (good, other, odd, stale, fresh)}

    assert result.exit_code == 1, result.output
    assert "2 created, 0 updated, 0 unchanged, 5 refused" in result.stdout
    refused = refused_lines(result.stdout)
    assert sorted(refused) == [3, 4, 5, 7, 8], result.stdout
    assert refused[3][:3] == ["-", "validation_error", "body"] and "not JSON" in refused[3][3]
    assert refused[4][:3] == [odd, "invalid_order", "currency"]
    assert refused[5][:3] == [other, "validation_error", "colour"]
    assert refused[7][:3] == [stale, "stale_order_version", "version"]
    assert refused[8][:3] == ["-", "validation_error", "order_id"]
    assert "0 created, 0 updated, 2 unchanged, 5 refused" in again.stdout
    assert checked.exit_code == 1, checked.output
    assert "dry run, nothing stored: 1 created, 0 updated, 0 unchanged, 1 refused" in checked.stdout
    assert refused_lines(checked.stdout)[2][:3] == [good, "validation_error", "version"]
    assert "checking dry.ndjson" in checked.stderr
    assert unknown_format.exit_code == 2
    good_order, other_order, stale_order = stored[good], stored[other], stored[stale]
    assert good_order is not None and good_order.currency == "JPY"
    assert good_order.lines[0].unit_price == 2000 and good_order.version == 1
    assert other_order is not None
    assert stale_order is not None and stale_order.version == 3
    assert stored[odd] is None and stored[fresh] is None


async def test_the_readme_example_csv_is_one_good_order(cli: Cli, tmp_path: Path) -> None:
    readme = README.read_text()
    section = readme[readme.index("## Admin CLI") : readme.index("## Development")]
    example = section.split("```csv\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "example.csv"
    path.write_text(example)

    checked = await cli("orders", "import", "--dry-run", str(path))
    helped = await cli("orders", "import", "--help")

    assert example.splitlines()[0].split(",") == HEADER
    assert checked.exit_code == 0, checked.output
    assert "dry run, nothing stored: 1 created, 0 updated, 0 unchanged, 0 refused" in checked.stdout
    assert helped.exit_code == 0
    assert all(name in helped.stdout for name in HEADER)
