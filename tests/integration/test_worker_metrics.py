"""The business's metrics on the worker's Prometheus endpoint, next to the Temporal SDK's: tickets
run through a worker of the test's own (its own runtime and port, so no other test's ticket is
counted) show up with their labels and exact counts, and activities retried as Temporal retries
them count each fact once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from temporalio.exceptions import ApplicationError
from temporalio.runtime import Runtime
from temporalio.testing import ActivityEnvironment

import contracts as c
from activities.notifications import NotificationActivities
from activities.tickets import TicketActivities
from api.auth import Role, issue_key
from domain.events import TicketEvent
from domain.tickets import Actor, RefundStatus, TicketStatus, refund_idempotency_key
from observability.metrics import BUSINESS_METRICS, SDK_METRICS
from persistence.models import Merchant, Notification
from persistence.notifications import PENDING, event_key
from settings import NotificationSettings, Settings
from tests.integration.test_refund_retries import _activities, _ticket
from tests.support.orders import application, line, new_order_id, order_body, put_order
from tests.support.own_engine import own_engine
from tests.support.servers import free_port
from tests.support.stack import Stack
from tests.support.tickets import recently
from worker import notification_channels, worker_runtime

Labels = dict[str, str]


class Scrape:
    """One read of a metrics endpoint: samples by name, each with its labels."""

    def __init__(self, exposition: str) -> None:
        self.samples: list[tuple[str, Labels, float]] = [
            (sample.name, dict(sample.labels), sample.value)
            for family in text_string_to_metric_families(exposition)
            for sample in family.samples
        ]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples of `name` whose labels include `labels`; 0 when none."""
        return sum(
            value
            for sample, have, value in self.samples
            if sample == name and labels.items() <= have.items()
        )

    def labels(self, name: str, label: str) -> set[str]:
        return {have[label] for sample, have, _ in self.samples if sample == name}


def _runtime() -> tuple[Runtime, str]:
    """The worker's runtime as worker.py builds it, serving on a port of its own."""
    address = f"127.0.0.1:{free_port()}"
    runtime = worker_runtime(Settings(worker_metrics_address=address))
    assert runtime is not None
    return runtime, address


async def _scrape(address: str) -> Scrape:
    async with httpx.AsyncClient() as http:
        return Scrape((await http.get(f"http://{address}/metrics")).text)


async def _own_merchant(stack: Stack) -> str:
    """A shop of its own whose merchant has 3 s to review, with a reminder 2 s before."""
    merchant_id = f"m-obs{uuid.uuid4().hex[:8]}"
    async with stack.sessions.begin() as session:
        session.add(Merchant(merchant_id=merchant_id, name="Metrics test shop"))
        await session.flush()
        label = f"merchant:{merchant_id}"
        stack.keys[label] = await issue_key(session, Role.merchant, merchant_id, "metrics test")
    async with stack.client(label) as merchant:
        policy = await merchant.put(
            f"/v1/merchants/{merchant_id}/policy",
            json={"merchant_review": 3, "review_reminders": [2]},
        )
    assert policy.status_code == 200, policy.text
    return merchant_id


async def _open(engine: Any, stack: Stack, buyer: str, order: dict[str, Any], **kind: Any) -> str:
    order_id = new_order_id("OBS")
    async with engine.client("platform:shop") as platform, engine.client(buyer) as http:
        await put_order(platform, order_id, order)
        created = await http.post("/v1/tickets", json=application(order_id, ("L1", 1), **kind))
    assert created.status_code == 201, created.text
    return str(created.json()["ticket_no"])


async def _sent_by_channel(stack: Stack, tickets: list[str]) -> dict[str, int]:
    """What the delivery activity sent for these tickets, by channel (inbox rows are stored as
    delivered when planned and never pass through it)."""
    async with stack.sessions() as session:
        rows = await session.execute(
            select(Notification.channel, func.count())
            .where(Notification.ticket_no.in_(tickets), Notification.status == "sent")
            .group_by(Notification.channel)
        )
    return {channel: count for channel, count in rows}


async def test_tickets_run_through_a_worker_are_counted_on_its_metrics_endpoint(
    stack: Stack,
) -> None:
    runtime, address = _runtime()
    merchant_id = await _own_merchant(stack)
    buyer = await stack.new_buyer(email=f"obs-{uuid.uuid4().hex[:6]}@buyers.example")
    async with own_engine(stack, runtime=runtime, worker_metrics_address=address) as engine:
        # Before shipment: approved by rule, refunded through the sandbox provider, completed.
        paid = order_body([line("L1", 1, 2500)], buyer=buyer.split(":")[1])
        refund_only = await _open(engine, stack, buyer, paid)
        # Delivered: the merchant lets the review deadline pass (after its reminder), the ticket
        # is approved automatically and the buyer then withdraws it.
        delivered = order_body(
            [line("L1", 1, 4000)],
            buyer=buyer.split(":")[1],
            merchant=merchant_id,
            status="delivered",
            delivered_at=recently(),
        )
        returned = await _open(engine, stack, buyer, delivered, type="return_refund")
        await stack.ticket_when(buyer, refund_only, "completed")
        await stack.ticket_when(buyer, returned, "awaiting_buyer_return")
        async with engine.client(buyer) as http:
            cancelled = await http.post(f"/v1/tickets/{returned}/cancel", json={})
        assert cancelled.status_code == 200, cancelled.text
        for ticket_no in (refund_only, returned):
            # A ticket's workflow ends once its notifications went out.
            await stack.temporal.client.get_workflow_handle(ticket_no).result()
        metrics = await _scrape(address)

    queue = {"task_queue": engine.settings.temporal_task_queue}
    assert metrics.value("aftersales_tickets_opened_total", type="refund_only", **queue) == 1
    assert metrics.value("aftersales_tickets_opened_total", type="return_refund", **queue) == 1
    assert metrics.labels("aftersales_tickets_ended_total", "outcome") == {"completed", "cancelled"}
    ended = "aftersales_tickets_ended_total"
    assert metrics.value(ended, type="refund_only", outcome="completed") == 1
    assert metrics.value(ended, type="return_refund", outcome="cancelled") == 1
    fired = "aftersales_deadlines_fired_total"
    assert metrics.labels(fired, "outcome") == {"merchant_reminded", "approved_automatically"}
    assert metrics.value(fired, outcome="merchant_reminded") == 1
    assert metrics.value(fired, outcome="approved_automatically") == 1
    refunds = "aftersales_refunds_total"
    assert metrics.value(refunds, status="granted", destination="original") == 1
    assert metrics.value(refunds, status="succeeded", destination="original") == 1
    # The sandbox settles asynchronously: the provider first accepts the refund as pending.
    assert metrics.value(refunds, status="pending", destination="original") == 1
    assert metrics.labels(refunds, "status") == {"granted", "pending", "succeeded"}
    settled = "aftersales_refund_settlement_seconds"
    assert metrics.value(f"{settled}_count", status="succeeded", destination="original") == 1
    assert 0 < metrics.value(f"{settled}_sum") < 60
    # In buckets of seconds up to two weeks (worker_runtime), not the SDK's default ones.
    assert metrics.value(f"{settled}_bucket", le="86400") == 1
    sent = await _sent_by_channel(stack, [refund_only, returned])
    assert sent.get("email", 0) >= 2  # the buyer hears of each ticket by mail
    for channel, count in sent.items():
        assert metrics.value("aftersales_notifications_sent_total", channel=channel) == count
    assert metrics.value("aftersales_notifications_failed_total") == 0
    # Each metric's labels are the ones it is declared with (and the SDK's own).
    sdk_labels = {"service_name", "namespace", "task_queue", "activity_type"}
    for metric in BUSINESS_METRICS:
        for name, labels, _ in metrics.samples:
            if name.startswith(metric.name):
                assert labels.keys() - {"le"} == set(metric.labels) | sdk_labels, name
    # Next to the SDK's own metrics, under the names the dashboard and the alerts read.
    for name, kind in SDK_METRICS.items():
        if kind == "histogram":
            assert metrics.value(f"{name}_count") > 0, name


@contextmanager
def _metered(env: ActivityEnvironment) -> Iterator[str]:
    runtime, address = _runtime()
    env.metric_meter = runtime.metric_meter
    yield address


async def test_activities_retried_count_each_fact_once(stack: Stack) -> None:
    ticket_no, _ = await _ticket(stack.sessions, "original")
    key = refund_idempotency_key(ticket_no, 1)
    grants, execution = _activities(stack)
    record = TicketActivities(stack.sessions, NotificationSettings())
    completed = c.Transition(
        ticket_no=ticket_no,
        seq=1,
        version=1,
        at=datetime.now(UTC),
        actor_role=Actor.system,
        event=TicketEvent.refund_settled,
        from_status=TicketStatus.refunding,
        to_status=TicketStatus.completed,
        settlement=c.Settlement(
            ticket_no=ticket_no, idempotency_key=key, status=RefundStatus.succeeded, source="poll"
        ),
    )
    env = ActivityEnvironment()
    with _metered(env) as address:
        for _ in range(2):
            grant = c.GrantRequest(ticket_no=ticket_no, refund_seq=1, idempotency_key=key)
            await env.run(grants.grant_refund, grant)
        await env.run(
            execution.execute_refund, c.RefundExecution(ticket_no=ticket_no, idempotency_key=key)
        )
        for _ in range(2):
            await env.run(record.record_transition, completed)
        metrics = await _scrape(address)
    assert metrics.value("aftersales_refunds_total", status="granted") == 1
    assert metrics.value("aftersales_refunds_total", status="succeeded") == 1
    assert metrics.value("aftersales_refund_settlement_seconds_count") == 1
    assert (
        metrics.value("aftersales_tickets_ended_total", type="refund_only", outcome="completed")
        == 1
    )


async def test_each_failed_delivery_is_counted_and_a_sent_one_once(stack: Stack) -> None:
    ticket_no, seq = f"OBS-{uuid.uuid4().hex[:8]}", 1
    closed = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    async with stack.sessions.begin() as session:
        for channel, address in (("email", "someone@buyers.example"), ("webhook", closed)):
            session.add(
                Notification(
                    event_key=event_key(ticket_no, seq),
                    ticket_no=ticket_no,
                    event=TicketEvent.refund_settled,
                    recipient_role="buyer",
                    recipient_id="b-obs",
                    channel=channel,
                    locale="en",
                    address=address,
                    subject="Your refund",
                    body="It is on its way.",
                    payload={"ticket_no": ticket_no},
                    status=PENDING,
                )
            )
    mailer, sms, webhooks = notification_channels(stack.settings)
    delivery = NotificationActivities(stack.sessions, mailer, sms, webhooks)
    batch = c.NotificationBatch(ticket_no=ticket_no, seq=seq)
    env = ActivityEnvironment()
    with _metered(env) as address:
        for _ in range(2):
            with pytest.raises(ApplicationError, match="1 notification"):
                await env.run(delivery.deliver_notifications, batch)
        metrics = await _scrape(address)
    assert metrics.value("aftersales_notifications_sent_total", channel="email") == 1
    assert metrics.value("aftersales_notifications_failed_total", channel="webhook") == 2
    assert metrics.value("aftersales_notifications_failed_total", channel="email") == 0
