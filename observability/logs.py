"""Logs as one JSON object per line (LOG_FORMAT=json), or plain lines for people (text).

Each JSON line carries time, level, logger and message, and what is known where it was written:
the ticket number and order id of the API route's path, the workflow, run and activity type of
the activity (the workflow id of a ticket is its number), and the current trace and span.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace
from temporalio import activity, workflow
from temporalio.runtime import LogForwardingConfig, LoggingConfig, TelemetryFilter

from settings import Settings

TEXT_FORMAT = "%(asctime)s %(name)s %(message)s"
# The workflow type whose id is a ticket number (workflows/ticket.py, named after its class).
TICKET_WORKFLOW = "TicketWorkflow"
# Path parameters of the API's routes that name a ticket or an order.
_PATH_FIELDS = ("ticket_no", "order_id")
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
# The arguments of uvicorn's access line, in its order.
_ACCESS_FIELDS = ("client", "method", "path", "http", "status")
# What every LogRecord has; anything else on a record was passed as `extra`.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    # uvicorn's message again, with terminal colours.
    "color_message",
    # The SDK's adapters repeat what the context fields already say.
    "temporal_activity",
    "temporal_workflow",
    "temporal_log",
}

# The ASGI scope of the request being served; the router fills in its path parameters.
_request: ContextVar[Mapping[str, Any] | None] = ContextVar("aftersales_request", default=None)


def bind_request(scope: Mapping[str, Any]) -> Token[Mapping[str, Any] | None]:
    return _request.set(scope)


def unbind_request(token: Token[Mapping[str, Any] | None]) -> None:
    _request.reset(token)


def context_fields() -> dict[str, str]:
    fields: dict[str, str] = {}
    scope = _request.get()
    if scope is not None:
        params = scope.get("path_params") or {}
        fields.update({name: str(params[name]) for name in _PATH_FIELDS if name in params})
    if activity.in_activity():
        info = activity.info()
        _workflow_fields(fields, info.workflow_type, info.workflow_id, info.workflow_run_id)
        fields["activity_type"] = info.activity_type
    elif workflow.in_workflow():
        running = workflow.info()
        _workflow_fields(fields, running.workflow_type, running.workflow_id, running.run_id)
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        fields["trace_id"] = trace.format_trace_id(span.trace_id)
        fields["span_id"] = trace.format_span_id(span.span_id)
    return fields


def _workflow_fields(
    fields: dict[str, str], kind: str | None, workflow_id: str | None, run_id: str | None
) -> None:
    if workflow_id:
        fields["workflow_id"] = workflow_id
        if kind == TICKET_WORKFLOW:
            fields["ticket_no"] = workflow_id
    if run_id:
        fields["run_id"] = run_id


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(context_fields())
        access = record.args if record.name == "uvicorn.access" else None
        if isinstance(access, tuple) and len(access) == len(_ACCESS_FIELDS):
            entry.update(zip(_ACCESS_FIELDS, access, strict=True))
        entry.update((key, value) for key, value in record.__dict__.items() if key not in _STANDARD)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def formatter(settings: Settings) -> logging.Formatter:
    return JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure(settings: Settings) -> None:
    """The process's logs at LOG_LEVEL in LOG_FORMAT: the root logger gets a handler on stderr
    unless the process has set one up already (a test runner has)."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(formatter(settings))
        root.addHandler(handler)
        root.setLevel(settings.log_level)
    format_uvicorn(settings)


def configure_from_environment(level: str | None = None) -> Settings:
    """`configure` for a process that reads no other setting (a sandbox, the mail catcher, a
    one-shot job): LOG_FORMAT and LOG_LEVEL of the environment; `level` overrides the latter."""
    from settings import get_settings

    settings = get_settings()
    if level is not None:
        settings = settings.model_copy(update={"log_level": level.upper()})
    configure(settings)
    return settings


def serve_logging(settings: Settings) -> dict[str, Any] | None:
    """uvicorn's `log_config` for a process set up by `configure`: with JSON, none of its own,
    so its loggers write through the root's JSON handler; with text, uvicorn's default."""
    if settings.log_format == "json":
        return None
    from uvicorn.config import LOGGING_CONFIG

    return LOGGING_CONFIG


def format_uvicorn(settings: Settings) -> None:
    """uvicorn's own handlers, set up before it built the app, write JSON too; text keeps
    uvicorn's lines as they are."""
    if settings.log_format != "json":
        return
    for name in _UVICORN_LOGGERS:
        for own in logging.getLogger(name).handlers:
            own.setFormatter(JsonFormatter())


def core_logging(settings: Settings) -> LoggingConfig | None:
    """The Temporal SDK core's own logs through Python's, so they are JSON lines too; None
    leaves the core writing its plain lines."""
    if settings.log_format != "json":
        return None
    return LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
    )
