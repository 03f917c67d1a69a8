"""One trace from an API call to the activities its action ran: the merchant's approval, read
back from an in-memory exporter, is the API's server span, the Update's client span, the
workflow's Update spans and the spans of the step it recorded, each the child of the one before,
whether workflow code runs in the SDK's sandbox or not; and the worker process, given an OTLP
endpoint, exports its spans under the trace of the call that led to them."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from api.app import create_app
from tests.support.orders import application, new_order_id, order_body, put_order
from tests.support.otlp import Collector, ReceivedSpan
from tests.support.own_engine import own_engine
from tests.support.servers import serving
from tests.support.stack import Stack
from tests.support.tickets import ASKED, LINES, MERCHANT, recently
from tests.support.worker_process import worker_env, worker_process

APPROVE_ROUTE = "POST /v1/tickets/{ticket_no}/approve"


def _one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    named = [span for span in spans if span.name == name]
    assert len(named) == 1, (name, sorted(span.name for span in spans))
    return named[0]


def _child(spans: list[ReadableSpan], name: str, parent: ReadableSpan) -> ReadableSpan:
    """The one span named `name` whose parent is `parent`."""
    children = [s for s in spans if s.name == name and _parent_of(s) == parent.context.span_id]
    assert len(children) == 1, (name, parent.name, sorted(span.name for span in spans))
    return children[0]


def _parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def _spans_until(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    """The spans ended so far, once one named `name` is among them (within 10 s)."""
    spans: list[ReadableSpan] = []
    async with asyncio.timeout(10):
        while not any(span.name == name for span in spans):
            await asyncio.sleep(0.05)
            spans = list(exporter.get_finished_spans())
    return spans


@pytest.mark.parametrize("sandboxed", [False, True], ids=["unsandboxed", "sandboxed"])
async def test_an_approval_is_one_trace_from_the_api_call_to_the_step_it_recorded(
    stack: Stack, sandboxed: bool
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    buyer = await stack.new_buyer()
    order_id = new_order_id("TRC")
    order = order_body(
        LINES, buyer=buyer.split(":")[1], status="delivered", delivered_at=recently()
    )
    async with own_engine(stack, tracer_provider=provider, workflow_sandbox=sandboxed) as engine:
        async with engine.client("platform:shop") as platform, engine.client(buyer) as http:
            await put_order(platform, order_id, order)
            created = await http.post(
                "/v1/tickets", json=application(order_id, *ASKED, type="return_refund")
            )
        assert created.status_code == 201, created.text
        ticket_no = created.json()["ticket_no"]
        await stack.ticket_when(buyer, ticket_no, "awaiting_merchant_review")
        opening = await _spans_until(exporter, "RunActivity:record_transition")
        exporter.clear()

        async with engine.client(MERCHANT) as merchant:
            approved = await merchant.post(f"/v1/tickets/{ticket_no}/approve", json={})
        assert approved.status_code == 200, approved.text
        spans = await _spans_until(exporter, APPROVE_ROUTE)

    call = _one(spans, APPROVE_ROUTE)
    assert call.attributes is not None and call.attributes["http.response.status_code"] == 200
    update = _one(spans, "StartWorkflowUpdate:approve")
    validated = _one(spans, "ValidateUpdate:approve")
    handled = _one(spans, "HandleUpdate:approve")
    # The approval's step; the return label's step follows it in the same trace.
    started = _child(spans, "StartActivity:record_transition", handled)
    recorded = _child(spans, "RunActivity:record_transition", started)
    chain = [call, update, handled, started, recorded]
    assert {span.context.trace_id for span in [*chain, validated]} == {call.context.trace_id}
    assert _parent_of(call) is None
    for parent, child in itertools.pairwise(chain):
        assert _parent_of(child) == parent.context.span_id, (child.name, parent.name)
    assert _parent_of(validated) == update.context.span_id
    assert recorded.attributes is not None
    assert recorded.attributes["temporalWorkflowID"] == ticket_no
    # The approval's trace is its own, not the one of the call that opened the ticket.
    opened = _one(opening, "StartWorkflow:TicketWorkflow")
    assert opened.context.trace_id != call.context.trace_id


async def test_the_worker_process_exports_the_spans_of_a_ticket_by_otlp(
    stack: Stack, tmp_path: Path
) -> None:
    """worker.py's own wiring: OTEL_EXPORTER_OTLP_ENDPOINT set, its spans reach the collector
    under the trace of the API call that opened the ticket."""
    collector, exporter = Collector(), InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    queue = f"otlp-{uuid.uuid4().hex[:6]}"
    settings = stack.settings.model_copy(update={"temporal_task_queue": queue})
    buyer = await stack.new_buyer()
    order = order_body(
        LINES, buyer=buyer.split(":")[1], status="delivered", delivered_at=recently()
    )
    async with serving(collector.app()) as collector_url:
        env = worker_env(stack, queue, tmp_path) | {
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector_url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # milliseconds between the batches it sends
        }
        app = create_app(settings, temporal=stack.temporal.client, tracer_provider=provider)
        async with (
            worker_process(env, tmp_path / "worker.log"),
            serving(app) as api_url,
            httpx.AsyncClient(base_url=api_url, timeout=30) as http,
        ):
            order_id = new_order_id("OTLP")
            platform = {"Authorization": f"Bearer {stack.keys['platform:shop']}"}
            await http.put(f"/v1/orders/{order_id}", json=order, headers=platform)
            created = await http.post(
                "/v1/tickets",
                json=application(order_id, *ASKED, type="return_refund"),
                headers={"Authorization": f"Bearer {stack.keys[buyer]}"},
            )
            assert created.status_code == 201, created.text
            await stack.ticket_when(buyer, created.json()["ticket_no"], "awaiting_merchant_review")
            received: list[ReceivedSpan] = []
            async with asyncio.timeout(10):
                while not any(span.name == "RunActivity:record_transition" for span in received):
                    await asyncio.sleep(0.1)
                    received = collector.spans()
    opened = _one(list(exporter.get_finished_spans()), "POST /v1/tickets")
    trace_id = f"{opened.context.trace_id:032x}"
    worker_spans = [span for span in received if span.trace_id == trace_id]
    recorded = [span for span in worker_spans if span.name == "RunActivity:record_transition"]
    assert recorded and {span.service for span in worker_spans} == {"aftersales-worker"}
    assert "RunWorkflow:TicketWorkflow" in {span.name for span in worker_spans}
