"""`make dev` keeps serving when one of its children is killed: `kill -9` of the worker, the API,
the payment sandbox, the Temporal dev server and the embedded PostgreSQL, one after the other on
one run command; after each, `/readyz` answers 200 again and a ticket opened after the kill gets
its refund. A child that keeps dying makes the run command stop everything and exit 1.

Times to recovery are printed (`pytest -s`), never asserted tighter than a generous bound.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.support.run_command import free_ports, run_command, run_command_env, settled

GENEROUS = 60.0  # seconds; machines are noisy, and this is about healing, not speed
# What each kill is followed by: a one-unit refund on a paid order of buyer b-501.
KILLS = [
    ("worker", "DEMO-CNY-1002"),
    ("api", "DEMO-CNY-1002"),
    ("payment-sandbox", "DEMO-CNY-1002"),
    ("temporal", "DEMO-JPY-2002"),
    ("postgres", "DEMO-JPY-2002"),
]


def _children(data_dir: Path) -> dict[str, int]:
    pids: dict[str, int] = json.loads((data_dir / "pids.json").read_text())["children"]
    return pids


async def _open_ticket(api: httpx.AsyncClient, order_id: str) -> str:
    """Through the outage: a transport error or a 5xx is retried with the same key."""
    key = str(uuid.uuid4())
    body = {
        "order_id": order_id,
        "type": "refund_only",
        "lines": [{"line_id": "L1", "quantity": 1}],
        "reason_code": "no_longer_needed",
    }
    async with asyncio.timeout(GENEROUS):
        while True:
            try:
                answer = await api.post("/v1/tickets", json=body, headers={"Idempotency-Key": key})
            except httpx.TransportError:
                answer = None
            if answer is not None and answer.status_code < 500:
                assert answer.status_code == 201, answer.text
                ticket_no: str = answer.json()["ticket_no"]
                return ticket_no
            await asyncio.sleep(0.2)


async def _ready(api: httpx.AsyncClient) -> None:
    async with asyncio.timeout(GENEROUS):
        while True:
            try:
                if (await api.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)


async def _restarted(data_dir: Path, name: str, old_pid: int) -> int:
    """The child's new pid, once the supervisor has written it."""
    async with asyncio.timeout(GENEROUS):
        while True:
            pid = _children(data_dir)[name]
            if pid != old_pid:
                return pid
            await asyncio.sleep(0.1)


async def test_the_run_command_heals_after_kill_9_of_any_one_child(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ports = free_ports()
    env = run_command_env(data_dir, ports)
    output: list[str] = []
    recovery: dict[str, float] = {}
    tickets: list[dict[str, Any]] = []

    async with run_command(env, output):
        keys = json.loads((data_dir / "demo-keys.json").read_text())
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{ports['api']}",
            headers={"Authorization": f"Bearer {keys['buyer:b-501']['api_key']}"},
            timeout=10,
        ) as api:
            for name, order_id in KILLS:
                before = _children(data_dir)
                killed_at = time.monotonic()
                os.kill(before[name], signal.SIGKILL)
                ticket_no = await _open_ticket(api, order_id)
                await _ready(api)
                tickets.append(await settled(api, ticket_no))
                recovery[name] = time.monotonic() - killed_at
                after = _children(data_dir)
                after[name] = await _restarted(data_dir, name, before[name])
                assert {k: v for k, v in after.items() if k != name} == {
                    k: v for k, v in before.items() if k != name
                }, "only the killed child is restarted"
                print(f"kill -9 {name}: serving again after {recovery[name]:.1f} s")

    printed = "".join(output)
    for name, _ in KILLS:
        assert f"| {name} (pid " in printed, f"no word on why {name} was restarted"
        assert f"| restarting {name} in 0.5 s" in printed
        assert f"| {name} restarted (pid " in printed
    assert "was killed by SIGKILL" in printed
    assert [ticket["status"] for ticket in tickets] == ["completed"] * len(KILLS), tickets
    assert all(seconds < GENEROUS for seconds in recovery.values()), recovery
    assert not (data_dir / "pids.json").exists(), "a stopped run command leaves no pids file"


async def test_a_child_that_keeps_dying_stops_everything_with_exit_1(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    output: list[str] = []

    async with run_command(run_command_env(data_dir, free_ports()), output, exit_code=1) as stack:
        everyone = _children(data_dir)
        pid = everyone["mailcatcher"]
        async with asyncio.timeout(120):
            while stack.returncode is None:
                os.kill(pid, signal.SIGKILL)
                try:
                    pid = await asyncio.wait_for(_restarted(data_dir, "mailcatcher", pid), 40)
                except (TimeoutError, FileNotFoundError):
                    await stack.wait()  # given up: the run command is on its way down

    printed = "".join(output)
    assert "giving up on mailcatcher: it was killed by SIGKILL, after 5 restarts" in printed
    for delay in ("0.5", "1.0", "2.0", "4.0", "8.0"):
        assert f"| restarting mailcatcher in {delay} s" in printed
    assert "restarting mailcatcher in 16.0 s" not in printed
    assert "| stopped" in printed
    assert not any(psutil.pid_exists(pid) for pid in everyone.values()), "a child outlived it"
