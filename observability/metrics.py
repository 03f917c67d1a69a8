"""The business's metrics, served on the worker's Prometheus endpoint next to the Temporal SDK's.

Activities record them through the SDK's meter (`activity.metric_meter()`), so they land wherever
the worker's runtime serves its own metrics (WORKER_METRICS_ADDRESS), labelled by the SDK with the
namespace, task queue and activity type. Each fact is counted by the write that made it true, once
that write has committed: a retried activity that finds its write already there counts nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from temporalio import activity
from temporalio.common import MetricMeter

import contracts as c
from domain.events import TicketEvent
from domain.tickets import TERMINAL_STATUSES, Actor, TicketStatus


@dataclass(frozen=True)
class Metric:
    name: str
    kind: Literal["counter", "histogram"]
    description: str
    labels: tuple[str, ...]


TICKETS_OPENED = Metric(
    "aftersales_tickets_opened_total",
    "counter",
    "Tickets whose workflow recorded its first step",
    ("type",),
)
TICKETS_ENDED = Metric(
    "aftersales_tickets_ended_total",
    "counter",
    "Tickets that reached an end status (the outcome)",
    ("type", "outcome"),
)
DEADLINES_FIRED = Metric(
    "aftersales_deadlines_fired_total",
    "counter",
    "Steps the engine took on its own when a deadline or a reminder fell due (the step's event)",
    ("outcome",),
)
REFUNDS = Metric(
    "aftersales_refunds_total",
    "counter",
    "Refunds that reached a status",
    ("status", "destination"),
)
REFUND_SETTLEMENT = Metric(
    "aftersales_refund_settlement_seconds",
    "histogram",
    "Time from a refund's grant to its final status (succeeded or failed)",
    ("status", "destination"),
)
NOTIFICATIONS_SENT = Metric(
    "aftersales_notifications_sent_total",
    "counter",
    "Notifications delivered",
    ("channel",),
)
NOTIFICATIONS_FAILED = Metric(
    "aftersales_notifications_failed_total",
    "counter",
    "Notification deliveries that failed (each failed attempt at one)",
    ("channel",),
)
BUSINESS_METRICS = (
    TICKETS_OPENED,
    TICKETS_ENDED,
    DEADLINES_FIRED,
    REFUNDS,
    REFUND_SETTLEMENT,
    NOTIFICATIONS_SENT,
    NOTIFICATIONS_FAILED,
)

# From a minute to two weeks: the settlement deadline is 7 days (SPEC §10).
SETTLEMENT_BUCKETS = (
    1,
    5,
    15,
    60,
    300,
    900,
    3600,
    4 * 3600,
    86400,
    3 * 86400,
    7 * 86400,
    14 * 86400,
)
HISTOGRAM_BUCKETS = {REFUND_SETTLEMENT.name: [float(bound) for bound in SETTLEMENT_BUCKETS]}

# The Temporal SDK's metrics the dashboard and the alerts read (Temporal's SDK metrics reference),
# as the worker's Prometheus endpoint names them: no `_total` suffix, durations in milliseconds.
SDK_METRICS = {
    "temporal_workflow_task_execution_failed": "counter",
    "temporal_workflow_task_schedule_to_start_latency": "histogram",
    "temporal_workflow_task_execution_latency": "histogram",
    "temporal_activity_execution_failed": "counter",
    "temporal_activity_schedule_to_start_latency": "histogram",
}

# What the engine records when a wait ends by its deadline (workflows/*_steps.py), and the
# reminders it sends before the merchant's.
DEADLINE_EVENTS = frozenset(
    {
        TicketEvent.approved_automatically,
        TicketEvent.escalated_instead_of_auto_approval,
        TicketEvent.merchant_reminded,
        TicketEvent.buyer_return_timeout,
        TicketEvent.return_delivery_overdue,
        TicketEvent.checkin_timeout,
        TicketEvent.escalated_instead_of_auto_acceptance,
        TicketEvent.resolve_inspection_timeout,
        TicketEvent.reship_timeout,
        TicketEvent.receipt_timeout,
        TicketEvent.closed_after_rejection,
        TicketEvent.settlement_overdue,
    }
)


def opens_ticket(transition: c.Transition) -> bool:
    """The workflow's first step: from the application the API stored."""
    return transition.from_status is TicketStatus.submitted


def ends_ticket(transition: c.Transition) -> bool:
    return (
        transition.to_status in TERMINAL_STATUSES
        and transition.from_status not in TERMINAL_STATUSES
    )


def fired_deadline(transition: c.Transition) -> bool:
    # The same escalation answers an approval by rule that the buyer's risk forbids as the
    # ticket opens: no deadline there.
    return (
        transition.event in DEADLINE_EVENTS
        and transition.actor_role is Actor.system
        and not opens_ticket(transition)
    )


def _meter() -> MetricMeter:
    # Outside an activity (an activity method called directly) there is nothing to export to.
    return activity.metric_meter() if activity.in_activity() else MetricMeter.noop


def _count(metric: Metric, *values: str) -> None:
    _meter().create_counter(metric.name, metric.description).add(
        1, dict(zip(metric.labels, map(str, values), strict=True))
    )


def transition_recorded(transition: c.Transition, ticket_type: str | None) -> None:
    """A step newly written to the timeline; `ticket_type` is read when it opens or ends one."""
    if ticket_type is not None and opens_ticket(transition):
        _count(TICKETS_OPENED, ticket_type)
    if ticket_type is not None and ends_ticket(transition):
        _count(TICKETS_ENDED, ticket_type, transition.to_status)
    if fired_deadline(transition):
        _count(DEADLINES_FIRED, transition.event)


def refund_reached(status: str, destination: str, since_grant: timedelta | None = None) -> None:
    """A refund's status newly written; `since_grant` when that status is its final one."""
    _count(REFUNDS, status, destination)
    if since_grant is not None:
        labels = dict(zip(REFUND_SETTLEMENT.labels, (str(status), destination), strict=True))
        _meter().create_histogram_float(
            REFUND_SETTLEMENT.name, REFUND_SETTLEMENT.description, "s"
        ).record(max(since_grant.total_seconds(), 0.0), labels)


def notification_delivered(channel: str, delivered: bool) -> None:
    _count(NOTIFICATIONS_SENT if delivered else NOTIFICATIONS_FAILED, channel)
