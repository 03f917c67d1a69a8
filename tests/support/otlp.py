"""An OTLP/HTTP traces endpoint for tests: it keeps the spans it is sent."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI, Request, Response
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    trace_id: str  # hex, as the logs write it
    span_id: str
    parent_span_id: str  # empty for a root span
    service: str


@dataclass
class Collector:
    bodies: list[bytes] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/traces")
        async def traces(request: Request) -> Response:
            self.bodies.append(await request.body())
            return Response(media_type="application/x-protobuf")

        return app

    def spans(self) -> list[ReceivedSpan]:
        received = []
        for body in self.bodies:
            for resource in ExportTraceServiceRequest.FromString(body).resource_spans:
                service = next(
                    (
                        attribute.value.string_value
                        for attribute in resource.resource.attributes
                        if attribute.key == "service.name"
                    ),
                    "",
                )
                received += [
                    ReceivedSpan(
                        span.name,
                        span.trace_id.hex(),
                        span.span_id.hex(),
                        span.parent_span_id.hex(),
                        service,
                    )
                    for scope in resource.scope_spans
                    for span in scope.spans
                ]
        return received
