"""`WORKER_PROCESSES=2` under the run command: two worker processes, `worker` and `worker-2`,
both polling the task queue as Temporal describes its pollers, each serving its metrics on a port
of its own; `kill -9` of one restarts that one only, it polls again, and the health check counts
both."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from stack.errors import StackError
from stack.launcher import metrics_addresses, worker_names
from stack.ports import is_free
from stack.worker_health import identity, polls_of
from tests.support.run_command import ROOT, free_ports, run_command, run_command_env, settled
from tests.support.servers import free_port

QUEUE = "aftersales"
GENEROUS = 60.0  # seconds; this is about which process restarts, not how fast


def _children(data_dir: Path) -> dict[str, int]:
    pids: dict[str, int] = json.loads((data_dir / "pids.json").read_text())["children"]
    return pids


def _two_free_ports() -> int:
    """A port free on loopback whose next port is free too."""
    while True:
        port = free_port()
        if port < 65535 and is_free(port + 1):
            return port


async def _polling(temporal: Client, pid: int) -> None:
    async with asyncio.timeout(GENEROUS):
        while True:
            if not await polls_of(temporal, QUEUE, [identity(pid)]):
                return
            await asyncio.sleep(0.5)


async def _restarted(data_dir: Path, name: str, old_pid: int) -> dict[str, int]:
    """Every child's pid once the supervisor has named `name`'s new one."""
    async with asyncio.timeout(GENEROUS):
        while True:
            children = _children(data_dir)
            if children[name] != old_pid:
                return children
            await asyncio.sleep(0.1)


async def _health_check(env: dict[str, str]) -> tuple[int | None, str]:
    """`python -m stack.worker_health` as the compose file runs it: exit code and output."""
    check = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stack.worker_health",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await check.communicate()
    return check.returncode, output.decode().strip()


def test_worker_processes_are_named_after_the_first_and_serve_metrics_on_the_next_ports() -> None:
    assert worker_names(1) == ["worker"]
    assert worker_names(3) == ["worker", "worker-2", "worker-3"]
    assert metrics_addresses(None, 2) == [None, None]
    assert metrics_addresses("0.0.0.0:9464", 3) == ["0.0.0.0:9464", "0.0.0.0:9465", "0.0.0.0:9466"]
    assert metrics_addresses("127.0.0.1:0", 2) == ["127.0.0.1:0", "127.0.0.1:0"]
    with pytest.raises(StackError, match="is not host:port"):
        metrics_addresses("9464", 2)
    with pytest.raises(StackError, match="need ports 65535 to 65536"):
        metrics_addresses("127.0.0.1:65535", 2)


async def test_two_worker_processes_both_poll_and_a_killed_one_alone_is_restarted(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    ports = free_ports()
    metrics = _two_free_ports()
    env = run_command_env(data_dir, ports) | {
        "WORKER_PROCESSES": "2",
        "WORKER_METRICS_ADDRESS": f"127.0.0.1:{metrics}",
    }
    output: list[str] = []

    async with run_command(env, output):
        temporal = await Client.connect(f"127.0.0.1:{ports['temporal']}")
        before = _children(data_dir)
        assert [name for name in before if name.startswith("worker")] == ["worker", "worker-2"]
        # The banner came once both polled, each with a workflow and an activity poll.
        both = [identity(before["worker"]), identity(before["worker-2"])]
        assert await polls_of(temporal, QUEUE, both) == []
        async with httpx.AsyncClient(timeout=10) as http:
            for port in (metrics, metrics + 1):
                answer = await http.get(f"http://127.0.0.1:{port}/metrics")
                assert answer.status_code == 200
                assert "temporal_" in answer.text

        os.kill(before["worker-2"], signal.SIGKILL)
        after = await _restarted(data_dir, "worker-2", before["worker-2"])
        assert {k: v for k, v in after.items() if k != "worker-2"} == {
            k: v for k, v in before.items() if k != "worker-2"
        }, "only the killed worker process is restarted"
        await _polling(temporal, after["worker-2"])
        assert await polls_of(temporal, QUEUE, [identity(after["worker"])]) == []
        health = await _health_check(env | {"TEMPORAL_ADDRESS": f"127.0.0.1:{ports['temporal']}"})
        assert health == (0, "healthy: polling task queue aftersales (2 worker processes)")

        keys = json.loads((data_dir / "demo-keys.json").read_text())
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{ports['api']}",
            headers={"Authorization": f"Bearer {keys['buyer:b-501']['api_key']}"},
            timeout=10,
        ) as api:
            created = await api.post(
                "/v1/tickets",
                json={
                    "order_id": "DEMO-CNY-1002",
                    "type": "refund_only",
                    "lines": [{"line_id": "L1", "quantity": 1}],
                    "reason_code": "no_longer_needed",
                },
            )
            assert created.status_code == 201, created.text
            ticket = await settled(api, created.json()["ticket_no"])

    printed = "".join(output)
    assert "| worker-2 (pid " in printed and "was killed by SIGKILL" in printed
    assert "| restarting worker-2 in 0.5 s" in printed
    assert "| restarting worker in" not in printed, "the other worker process ran on"
    assert "waiting for 2 worker processes to poll" in printed
    assert ticket["status"] == "completed"
