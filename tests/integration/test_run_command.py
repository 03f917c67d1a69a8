"""The README's run command as a new user meets it: zero set-up, a first ticket, a restart.

Runs `python -m stack` on embedded defaults (its own Temporal dev server and pgserver, on free
ports and a fresh data directory), opens a refund-only ticket with the demo keys, stops it with
Ctrl-C, starts it again and finds the order, the ticket and the Temporal history still there.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from tests.support.pdf import scanned_codes
from tests.support.run_command import ROOT, free_ports, run_command, run_command_env, settled


async def _tickets_of(api: httpx.AsyncClient, order_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (
        await api.get("/v1/tickets", params={"order_id": order_id})
    ).json()["items"]
    return items


# Each process of the run command, and a line it writes when it starts.
_FIRST_WORDS = {
    "migrate": "database schema is up to date",
    "seed": "demo marketplace ready",
    "payment-sandbox": "Uvicorn running on",
    "courier-sandbox": "Uvicorn running on",
    "mailcatcher": "SMTP on 127.0.0.1",
    "worker": "worker polling task queue",
    "api": "Application startup complete",
}


def _every_process_logged_json(logs: Path) -> None:
    """Every line of each process's log is one JSON object with the fields the README names."""
    for name, words in _FIRST_WORDS.items():
        entries = []
        for line in (logs / f"{name}.log").read_text().splitlines():
            if line.strip():
                try:
                    entries.append(json.loads(line))
                except json.JSONDecodeError:
                    raise AssertionError(f"{name}.log: not JSON: {line}") from None
        assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
        assert any(words in entry["message"] for entry in entries), (name, entries[:5])


async def test_the_run_command_serves_a_first_ticket_and_keeps_everything_across_a_restart(
    tmp_path: Path,
) -> None:
    ports = free_ports()
    env = run_command_env(tmp_path / "data", ports)
    api_url = f"http://127.0.0.1:{ports['api']}"
    output: list[str] = []

    async with run_command(env, output):
        keys = json.loads((tmp_path / "data" / "demo-keys.json").read_text())
        buyer_key = keys["buyer:b-501"]["api_key"]
        async with httpx.AsyncClient(
            base_url=api_url, headers={"Authorization": f"Bearer {buyer_key}"}
        ) as api:
            created = await api.post(
                "/v1/tickets",
                json={
                    "order_id": "DEMO-CNY-1001",
                    "type": "refund_only",
                    "lines": [{"line_id": "L1", "quantity": 2}, {"line_id": "L2", "quantity": 1}],
                    "reason_code": "no_longer_needed",
                },
            )
            assert created.status_code == 201, created.text
            ticket = await settled(api, created.json()["ticket_no"])
            order = (await api.get("/v1/orders/DEMO-CNY-1001")).json()
        temporal = await Client.connect(f"127.0.0.1:{ports['temporal']}")
        found = [w.id async for w in temporal.list_workflows('OrderId = "DEMO-CNY-1001"')]

    assert buyer_key in "".join(output), "the banner prints the demo keys"
    _every_process_logged_json(tmp_path / "data" / "logs")
    assert ticket["status"] == "completed"
    # 2 x (88.00) - 10.00 discount + 129.00 + 10.00 shipping: this ticket completes the order.
    assert ticket["refunded_amount"] == 30500
    assert order["after_sales_status"] == "refunded" and order["closed"] is True
    assert found == [ticket["ticket_no"]]

    output.clear()
    async with run_command(env, output):
        again = json.loads((tmp_path / "data" / "demo-keys.json").read_text())
        async with httpx.AsyncClient(
            base_url=api_url, headers={"Authorization": f"Bearer {buyer_key}"}
        ) as api:
            kept = await _tickets_of(api, "DEMO-CNY-1001")
            order_after = (await api.get("/v1/orders/DEMO-CNY-1001")).json()
        temporal = await Client.connect(f"127.0.0.1:{ports['temporal']}")
        history = await temporal.get_workflow_handle(ticket["ticket_no"]).fetch_history()

    assert again == keys
    assert [(t["ticket_no"], t["status"], t["refunded_amount"]) for t in kept] == [
        (ticket["ticket_no"], "completed", 30500)
    ]
    assert order_after["refunded_total"] == 30500
    assert history.events[-1].HasField("workflow_execution_completed_event_attributes")


SHORT_DEADLINES = {
    "DEADLINE_MERCHANT_REVIEW": "PT8S",
    "REMINDERS_BEFORE_REVIEW_DEADLINE": "PT6S,PT3S",
    "DEADLINE_BUYER_RETURN": "PT5S",
    "REFUND_STATUS_POLL_INTERVAL": "PT2S",
}


async def test_every_flow_runs_through_the_api_on_the_run_command_with_short_deadlines(
    tmp_path: Path,
) -> None:
    """The guided tour (`python -m stack.tour --deadlines`) against the run command: every flow
    of SPEC §2 from creation to its terminal state, and deadlines that act by themselves."""
    ports = free_ports()
    env = run_command_env(tmp_path / "data", ports) | SHORT_DEADLINES
    output: list[str] = []

    async with run_command(env, output):
        tour = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "stack.tour",
            "--deadlines",
            "--timeout",
            "60",
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        printed, _ = await tour.communicate()

    report = printed.decode()
    assert tour.returncode == 0, report
    for flow, outcome in [
        ("refund before shipment", "completed, refunded 31600 CNY"),
        ("refund after shipment", "completed, refunded 31600 CNY"),
        # 2 x 159.00 - 10.00 discount, no shipping (buyer fault), 15.00 service fee.
        ("return and refund, with service fee", "completed, refunded 29300 CNY"),
        ("exchange", "completed, refunded 0 CNY"),
        # 2 x (129.00 - 159.00) back; 2 x (169.00 - 159.00) paid through the platform.
        ("exchange for a cheaper item: the difference refunded", "completed, refunded 6000 CNY"),
        ("exchange for a dearer item: the difference paid", "completed, refunded 0 CNY"),
        ("failed inspection, partial refund", "completed, refunded 10000 CNY"),
        ("rejection, escalation, arbitration", "completed, refunded 20000 CNY"),
        ("merchant silent: approved automatically", "completed, refunded 31600 CNY"),
        ("buyer never ships back: cancelled", "cancelled, refunded 0 CNY"),
        # 2 x 99.00 - 10.00 discount, no shipping (buyer fault), at Pacific Outfitters' rules.
        ("merchant rule: the buyer keeps the item", "completed, refunded 18800 CNY"),
        ("merchant rule: fast refund on the courier's first scan", "completed, refunded 18800 CNY"),
        ("merchant rule: store credit with a 10 % bonus", "completed, refunded 18800 CNY"),
    ]:
        line = next((x for x in report.splitlines() if x.startswith(f"== {flow}:")), "")
        assert line.endswith(outcome), f"{flow}: {line!r}\n{report}"
    silent = report.split("== merchant silent")[1].split("\n== ")[0]
    assert "approved automatically: the merchant did not answer within 8 s" in silent
    assert silent.count("reminder to merchant m-1001") == 2
    assert "cancelled automatically: the buyer did not ship the goods back within 5 s" in report
    kept = report.split("== merchant rule: the buyer keeps the item")[1].split("\n== ")[0]
    assert "the buyer keeps the item (rule keep-cheap (m-2002-rules-v" in kept
    fast = report.split("== merchant rule: fast refund")[1].split("\n== ")[0]
    assert "fast refund (rule fast-refund (m-2002-rules-v" in fast
    assert "store credit bonus CNY 18.80: 10 % of the credit, rounded down" in report
    # The return's buyer printed the courier's label; its parcel moved the ticket by itself.
    printed_label = re.search(r"return label (\S+): (\S+\.pdf)", report)
    assert printed_label is not None, report
    tracking_no, pdf = printed_label.groups()
    assert scanned_codes(Path(pdf))["CODE-128"] == tracking_no
    returned = report.split("== return and refund")[1].split("\n== ")[0]
    assert f"the courier has the return parcel sf {tracking_no} of the return label" in returned
