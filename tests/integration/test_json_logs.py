"""JSON logs, as the processes write them with the default LOG_FORMAT: every line one JSON object,
uvicorn's own lines included; an API request's lines carry the ticket number of its route and the
trace id of the span the API exported for it; an activity's carry its ticket and workflow."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import logging
import os
import signal
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.sdk.trace import TracerProvider
from temporalio import activity
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from observability.logs import JsonFormatter
from tests.support.otlp import Collector
from tests.support.servers import free_port, serving
from tests.support.stack import Stack
from tests.support.worker_process import ROOT, worker_env, worker_process
from workflows.ticket import TicketWorkflow

TICKET = "AS20991231-000042"
# Settings the API process must take from the test, not from whoever runs it.
_OURS = ("DATABASE_URL", "TEMPORAL_", "LOG_", "OTEL_", "API_")


def _lines(path: Path) -> list[dict[str, Any]]:
    """Every line the process wrote, each of which must be one JSON object."""
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    assert entries, "the process wrote nothing"
    for entry in entries:
        assert isinstance(entry, dict) and {"time", "level", "logger", "message"} <= entry.keys()
    return entries


async def test_the_api_process_logs_json_with_the_ticket_and_trace_of_each_request(
    database_url: str, dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    collector = Collector()
    log_path, port = tmp_path / "api.log", free_port()
    async with serving(collector.app()) as collector_url:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
        env = inherited | {
            "DATABASE_URL": database_url,
            "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector_url,
            "PYTHONUNBUFFERED": "1",
        }
        with log_path.open("wb") as log:
            api = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"),
                *("--host", "127.0.0.1", "--port", str(port)),
                cwd=ROOT,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
            try:
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                    async with asyncio.timeout(30):
                        while True:
                            assert api.returncode is None, log_path.read_text()
                            try:
                                if (await http.get("/healthz")).status_code == 200:
                                    break
                            except httpx.TransportError:
                                await asyncio.sleep(0.2)
                    unauthenticated = await http.get(f"/v1/tickets/{TICKET}")
                assert unauthenticated.status_code == 401
            finally:
                # A graceful stop: the lifespan's end sends the spans still batched.
                api.send_signal(signal.SIGTERM)
                async with asyncio.timeout(20):
                    await api.wait()
    entries = _lines(log_path)
    assert any(
        entry["logger"] == "uvicorn.error" and "Application startup complete" in entry["message"]
        for entry in entries
    )
    [access] = [e for e in entries if e["logger"] == "uvicorn.access" and "ticket_no" in e]
    assert access["ticket_no"] == TICKET
    assert (access["method"], access["path"], access["status"]) == (
        "GET",
        f"/v1/tickets/{TICKET}",
        401,
    )
    [span] = [s for s in collector.spans() if s.name == "GET /v1/tickets/{ticket_no}"]
    assert (access["trace_id"], access["span_id"]) == (span.trace_id, span.span_id)
    assert span.service == "aftersales-api"


async def test_the_worker_process_logs_json(stack: Stack, tmp_path: Path) -> None:
    env = worker_env(stack, f"json-logs-{uuid.uuid4().hex[:6]}", tmp_path)
    env = {key: value for key, value in env.items() if not key.startswith(("LOG_", "OTEL_"))}
    log_path = tmp_path / "worker.log"
    async with worker_process(env, log_path):
        pass
    entries = _lines(log_path)
    polling = [e for e in entries if e["message"].startswith("worker polling task queue")]
    assert [e["logger"] for e in polling] == ["aftersales.worker"]
    assert polling[0]["level"] == "INFO"


@contextmanager
def _captured(name: str) -> Iterator[io.StringIO]:
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield written
    finally:
        logger.removeHandler(handler)


async def test_an_activity_logs_its_ticket_workflow_and_trace() -> None:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info,
        workflow_id=TICKET,
        workflow_run_id="run-1",
        workflow_type=TicketWorkflow.__name__,
        activity_type="track_parcel",
    )
    tracer = TracerProvider().get_tracer("test")

    async def tracked() -> None:
        logging.getLogger("aftersales.tracking").warning("tracking %s failed", "SF-1")
        activity.logger.warning("through the SDK's logger too")

    with (
        _captured("aftersales.tracking") as ours,
        _captured("temporalio.activity") as sdk,
        tracer.start_as_current_span("around") as span,
    ):
        await env.run(tracked)
    [line] = [json.loads(text) for text in ours.getvalue().splitlines()]
    assert line["message"] == "tracking SF-1 failed" and line["level"] == "WARNING"
    assert (line["ticket_no"], line["workflow_id"], line["run_id"]) == (TICKET, TICKET, "run-1")
    assert line["activity_type"] == "track_parcel"
    context = span.get_span_context()
    assert line["trace_id"] == f"{context.trace_id:032x}"
    assert line["span_id"] == f"{context.span_id:016x}"
    [through_sdk] = [json.loads(text) for text in sdk.getvalue().splitlines()]
    assert through_sdk["ticket_no"] == TICKET and "temporal_activity" not in through_sdk
