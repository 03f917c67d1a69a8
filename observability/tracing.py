"""OpenTelemetry traces, exported by OTLP over HTTP when an endpoint is set.

Unset (OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), there is no tracer
provider: no Temporal interceptor is installed and the API's request middleware passes requests
straight on, so tracing costs nothing.
"""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from temporalio.client import Client

from observability.action_spans import ActionTracingInterceptor
from settings import Settings

TRACER_NAME = "aftersales"


def traces_endpoint(settings: Settings) -> str | None:
    """The OTLP/HTTP traces URL: the traces endpoint as given, or `/v1/traces` on the base."""
    if settings.otel_exporter_otlp_traces_endpoint:
        return settings.otel_exporter_otlp_traces_endpoint
    if settings.otel_exporter_otlp_endpoint:
        return settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
    return None


def tracer_provider(settings: Settings, service: str) -> TracerProvider | None:
    """Spans batched to the OTLP endpoint, or None when none is set. The process shuts it down
    when it stops, which sends what is still batched."""
    endpoint = traces_endpoint(settings)
    if endpoint is None:
        return None
    resource = Resource.create({SERVICE_NAME: settings.otel_service_name or service})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return provider


def traced_client(client: Client, provider: TracerProvider | None) -> Client:
    """The same connection, its calls carrying the caller's trace; a worker built on it makes
    the spans of its workflows and activities under the traces of the calls that led to them."""
    if provider is None:
        return client
    config = client.config()
    tracing = ActionTracingInterceptor(provider.get_tracer(TRACER_NAME))
    config["interceptors"] = [*config["interceptors"], tracing]
    return Client(**config)
