"""The worker process: the composition root for workflows and activities."""

from __future__ import annotations

import asyncio
import logging
import pkgutil
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import uvloop
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import LoggingConfig, PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import workflows
from activities.bulk_actions import BulkActivities
from activities.consistency import ConsistencyActivities
from activities.data_errors import UnstorableDataIsFinal
from activities.notifications import NotificationActivities
from activities.refund_execution import RefundExecutionActivities
from activities.refunds import RefundActivities
from activities.return_labels import ReturnLabelActivities
from activities.risk import RiskActivities
from activities.tickets import TicketActivities
from activities.tracking import TrackingActivities
from activities.what_if import WhatIfActivities
from adapters.couriers.port import CourierClient
from adapters.couriers.sandbox import SandboxCourierClient
from adapters.notifications import Mailer, SmsGateway, WebhookSender
from adapters.notifications.email import SmtpMailer
from adapters.notifications.sms import SandboxSms
from adapters.notifications.webhooks import SignedWebhooks
from adapters.payments.port import PaymentGateway
from adapters.payments.sandbox import SandboxPaymentGateway
from adapters.payments.stripe import StripeGateway
from adapters.payouts.port import PayoutGateway
from adapters.payouts.sandbox import SandboxPayoutGateway
from adapters.rates.port import RatesSource
from adapters.rates.sandbox import SandboxRates
from observability import logs, tracing
from observability.metrics import HISTOGRAM_BUCKETS
from persistence.db import make_engine, make_session_factory
from settings import Settings, get_settings
from stack.schedules import ensure_consistency_schedule
from workflows.bulk_actions import BulkActionWorkflow
from workflows.consistency import ConsistencyCheckWorkflow
from workflows.ticket import TicketWorkflow
from workflows.what_if import RuleWhatIfWorkflow

log = logging.getLogger("aftersales.worker")


@dataclass
class OutsideWorld:
    """The third parties activities talk to, each behind its port."""

    gateways: Mapping[str, PaymentGateway]
    couriers: Mapping[str, CourierClient]
    mailer: Mailer
    sms: SmsGateway
    webhooks: WebhookSender
    rates: RatesSource
    payouts: PayoutGateway | None = None


def rates_source(settings: Settings) -> RatesSource:
    return SandboxRates.configured(settings.rates.sandbox_table, settings.rates.sandbox_as_of)


def notification_channels(settings: Settings) -> tuple[Mailer, SmsGateway, WebhookSender]:
    notify = settings.notify
    return (
        SmtpMailer(
            notify.smtp_host,
            notify.smtp_port,
            notify.smtp_from,
            notify.smtp_timeout.total_seconds(),
        ),
        SandboxSms(notify.sms_sandbox_outbox or settings.data_dir / "sms" / "outbox.jsonl"),
        SignedWebhooks(
            notify.webhook_secret.get_secret_value(), notify.webhook_timeout.total_seconds()
        ),
    )


# The modules that define workflows; the sandbox imports them afresh for each workflow instance.
_WORKFLOW_MODULES = frozenset({TicketWorkflow.__module__, ConsistencyCheckWorkflow.__module__})


def workflow_runner(sandboxed: bool) -> WorkflowRunner:
    """How the worker runs workflow code.

    Unsandboxed (the default, WORKFLOW_SANDBOX=false): workflow code runs as plain Python, its
    modules imported once. The SDK's sandbox re-imports the workflow's module for every new
    instance and enters its restricted environment for every activation and for every payload
    it encodes or decodes: half of the worker's workflow-side CPU (docs/BENCHMARKS.md, "The
    workflow side, replayed"). What the sandbox would catch at run time, a non-deterministic
    call, is caught before: tests/workflows runs every workflow path under the SDK's full
    sandbox, and the recorded histories are replayed under it in the suite. The workflow
    modules hold no module state and reach time, randomness and I/O only through
    `temporalio.workflow`.

    Sandboxed (WORKFLOW_SANDBOX=true, for instance while writing new workflow code): the SDK's
    sandbox, with the ticket's step modules (`workflows.*` but the workflows' own modules)
    imported once and shared rather than imported again for every new instance, and
    OpenTelemetry's, whose context the tracing interceptor keeps across workflow and worker."""
    if not sandboxed:
        return UnsandboxedWorkflowRunner()
    steps = sorted(
        name
        for module in pkgutil.iter_modules(workflows.__path__)
        if (name := f"workflows.{module.name}") not in _WORKFLOW_MODULES
    )
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(
            *steps, "opentelemetry", "observability"
        )
    )


def build_worker(
    client: Client,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    outside: OutsideWorld,
) -> Worker:
    """Traced when `client` is (`observability.tracing.traced_client`): a worker takes up its
    client's interceptors."""
    tickets = TicketActivities(sessions, settings.notify)
    payouts = outside.payouts
    refunds = RefundActivities(
        sessions, outside.rates, payouts.name if payouts is not None else "bank_transfer"
    )
    execution = RefundExecutionActivities(
        sessions, outside.gateways, payouts, settings.money.coupon_validity
    )
    risk = RiskActivities(sessions)
    tracking = TrackingActivities(
        sessions, outside.couriers, settings.courier_sandbox.poll_interval
    )
    labels = ReturnLabelActivities(
        sessions, outside.couriers, settings.courier_sandbox.label_carrier
    )
    notifications = NotificationActivities(sessions, outside.mailer, outside.sms, outside.webhooks)
    consistency = ConsistencyActivities(sessions, client, settings.temporal_task_queue)
    what_if = WhatIfActivities(sessions)
    bulk = BulkActivities(sessions, client)
    return Worker(
        client,
        task_queue=settings.temporal_task_queue,
        # A task routed to a dead worker's sticky queue moves to the shared queue after this
        # (SDK default 10 s): the ticket moves on within ~9 s of a crash (workflows/timeouts.py).
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=3),
        workflows=[
            TicketWorkflow,
            ConsistencyCheckWorkflow,
            RuleWhatIfWorkflow,
            BulkActionWorkflow,
        ],
        workflow_runner=workflow_runner(settings.workflow_sandbox),
        # Inside the client's tracing interceptor: an activity's span records the failure
        # Temporal is told of.
        interceptors=[UnstorableDataIsFinal()],
        activities=[
            tickets.record_transition,
            refunds.grant_refund,
            execution.execute_refund,
            execution.check_refund,
            refunds.settle_refund,
            refunds.void_grant,
            risk.assess_risk,
            tracking.track_parcel,
            labels.issue_return_label,
            notifications.deliver_notifications,
            consistency.check_consistency,
            what_if.count_what_if,
            what_if.re_decide_page,
            what_if.finish_what_if,
            bulk.apply_bulk_batch,
            bulk.finish_bulk,
        ],
    )


def worker_runtime(settings: Settings) -> Runtime | None:
    """The SDK's runtime with its metrics on Prometheus when an address is set: workflow tasks
    and activities that fail again and again show there before any ticket is looked at, next
    to the business's (observability/metrics.py). JSON logs take the SDK core's logs in too.
    None: the SDK's default runtime does."""
    core_logs = logs.core_logging(settings)
    if settings.worker_metrics_address is None and core_logs is None:
        return None
    metrics = None
    if settings.worker_metrics_address is not None:
        metrics = PrometheusConfig(
            bind_address=settings.worker_metrics_address,
            histogram_bucket_overrides=HISTOGRAM_BUCKETS,
        )
    return Runtime(
        telemetry=TelemetryConfig(metrics=metrics, logging=core_logs or LoggingConfig.default)
    )


def keep_bytecode(data_dir: Path) -> None:
    """The workflow sandbox imports the workflow modules afresh for every workflow instance it
    creates. Without their bytecode cached (PYTHONDONTWRITEBYTECODE, a read-only install) each
    such import compiles them from source again: a tenth of the worker's CPU on short tickets.
    Bytecode goes to `DATA_DIR/pycache` unless a cache prefix is set already."""
    sys.dont_write_bytecode = False
    if sys.pycache_prefix is None:
        sys.pycache_prefix = str((data_dir / "pycache").resolve())


async def main() -> None:
    settings = get_settings()
    keep_bytecode(settings.data_dir)
    logs.configure(settings)
    # No test round trip before each transaction: a connection that died while pooled fails its
    # activity's attempt, which Temporal retries on a fresh one (workflows/timeouts.py).
    engine = make_engine(settings.require_database_url(), pre_ping=False)
    sessions = make_session_factory(engine)
    payments = SandboxPaymentGateway(
        settings.payment_sandbox.url, settings.payment_sandbox.api_key.get_secret_value()
    )
    payouts = SandboxPayoutGateway(
        settings.payment_sandbox.url, settings.payment_sandbox.api_key.get_secret_value()
    )
    courier = SandboxCourierClient(
        settings.courier_sandbox.url, settings.courier_sandbox.api_key.get_secret_value()
    )
    gateways: dict[str, PaymentGateway] = {payments.name: payments}
    stripe = None
    if settings.stripe.api_key is not None:
        stripe = StripeGateway(
            settings.stripe.api_key.get_secret_value(), api_base=settings.stripe.api_base
        )
        gateways[stripe.name] = stripe
    mailer, sms, webhooks = notification_channels(settings)
    outside = OutsideWorld(
        gateways=gateways,
        # One sandbox courier plays every carrier the shop works with.
        couriers={carrier: courier for carrier in settings.courier_sandbox.carriers},
        mailer=mailer,
        sms=sms,
        webhooks=webhooks,
        rates=rates_source(settings),
        payouts=payouts,
    )
    traces = tracing.tracer_provider(settings, "aftersales-worker")
    connected = await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        runtime=worker_runtime(settings),
    )
    # Its workflows and activities continue the traces of the calls that led to them.
    client = tracing.traced_client(connected, traces)
    ensured = await ensure_consistency_schedule(client, settings)
    log.info("consistency check schedule %s", ensured)
    worker = build_worker(client, settings, sessions, outside)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        log.info("worker polling task queue %s", settings.temporal_task_queue)
        await stop.wait()
    await payments.aclose()
    await payouts.aclose()
    await courier.aclose()
    if stripe is not None:
        await stripe.aclose()
    await engine.dispose()
    if traces is not None:
        traces.shutdown()  # sends the spans still batched


if __name__ == "__main__":
    # libuv's event loop: the worker's database, HTTP and Temporal calls wait on it.
    uvloop.run(main())
