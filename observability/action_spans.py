"""Temporal's TracingInterceptor, with an actor's action traced from its call to its activities.

The SDK's interceptor puts everything a workflow does under the span of the call that started
it, and an Update's handler only links to the caller's span. A ticket applies an action in its
run loop while the action's Update waits to be answered (workflows/actor_inbox.py: one action
at a time), so here the Update's spans are children of the caller's span, and every activity
started while an Update is being handled is a child of that Update's span: one trace from the
API call that approved a ticket to the step it recorded.

Built on the SDK's subclassing points and two of its private helpers (temporalio is pinned).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import opentelemetry.trace
import temporalio.api.common.v1
from opentelemetry.context import Context
from temporalio import workflow
from temporalio.contrib.opentelemetry import TracingInterceptor, TracingWorkflowInboundInterceptor
from temporalio.contrib.opentelemetry._context import attached_context
from temporalio.contrib.opentelemetry._interceptor import _TracingWorkflowOutboundInterceptor
from temporalio.worker import (
    HandleUpdateInput,
    StartActivityInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

Headers = Mapping[str, temporalio.api.common.v1.Payload]
_SERVER = opentelemetry.trace.SpanKind.SERVER


class ActionTracingInterceptor(TracingInterceptor):
    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[TracingWorkflowInboundInterceptor]:
        super().workflow_interceptor_class(input)  # registers the span-making extern function
        return _ActionTracingInbound


class _SpanHeaders:
    """Where `_completed_span` writes the context of the span it made."""

    def __init__(self) -> None:
        self.headers: Headers = {}


class _ActionTracingInbound(TracingWorkflowInboundInterceptor):
    def __init__(self, next: WorkflowInboundInterceptor) -> None:
        super().__init__(next)
        # The contexts of the Update handlers running now, their spans current.
        self._acting: list[Context] = []

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        WorkflowInboundInterceptor.init(self, _ActionTracingOutbound(outbound, self))

    def _caller_context(self, headers: Headers) -> Context | None:
        payload = headers.get(self.header_key)
        if not payload:
            return None
        carrier = self.payload_converter.from_payloads([payload])[0]
        return self._set_on_context(self.text_map_propagator.extract(carrier)) if carrier else None

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        caller = self._caller_context(input.headers)
        if caller is None:
            super().handle_update_validator(input)
            return
        with attached_context(caller):
            try:
                self.next.handle_update_validator(input)
            except Exception as refused:
                self._completed_span(
                    f"ValidateUpdate:{input.update}", exception=refused, kind=_SERVER
                )
                raise
            self._completed_span(f"ValidateUpdate:{input.update}", kind=_SERVER)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        caller = self._caller_context(input.headers)
        if caller is None:
            return await super().handle_update_handler(input)
        span = _SpanHeaders()
        with attached_context(caller):
            # Not made on replay: then nothing is acting and no activity span is made either.
            self._completed_span(f"HandleUpdate:{input.update}", add_to_outbound=span, kind=_SERVER)
            acting = self._caller_context(span.headers)
            if acting is not None:
                self._acting.append(acting)
            try:
                return await self.next.handle_update_handler(input)
            finally:
                if acting is not None:
                    self._acting.remove(acting)

    @contextmanager
    def acting(self) -> Iterator[None]:
        """Under the span of the Update being handled, when one is."""
        with attached_context(self._acting[-1] if self._acting else None):
            yield


class _ActionTracingOutbound(_TracingWorkflowOutboundInterceptor):
    root: _ActionTracingInbound

    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
        with self.root.acting():
            return super().start_activity(input)

    def start_local_activity(self, input: StartLocalActivityInput) -> workflow.ActivityHandle[Any]:
        with self.root.acting():
            return super().start_local_activity(input)
