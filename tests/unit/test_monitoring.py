"""The alert rules and the Grafana dashboard parse, and every metric they read is one the engine
exports: the business's (observability/metrics.py), the API's (api/metrics.py) and the Temporal
SDK's that observability/metrics.py names. A misspelt metric would chart or alert on nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.metrics import API_METRICS
from observability.metrics import BUSINESS_METRICS, SDK_METRICS

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
# PromQL's words that are not metric names: aggregation clauses, set operators, modifiers.
_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "bool"})
_KEYWORDS |= {"and", "or", "unless", "offset", "inf", "nan"}
_SERIES = {"counter": ("",), "histogram": ("_bucket", "_sum", "_count")}


def exported() -> set[str]:
    """Every series name the engine's endpoints serve."""
    names = {
        f"{metric.name}{suffix}" for metric in BUSINESS_METRICS for suffix in _SERIES[metric.kind]
    }
    names |= {f"{name}{suffix}" for name, kind in SDK_METRICS.items() for suffix in _SERIES[kind]}
    for collector in API_METRICS:
        for family in collector.describe():
            if family.type == "counter":
                names |= {f"{family.name}_total", f"{family.name}_created"}
            else:
                names |= {f"{family.name}{suffix}" for suffix in _SERIES[family.type]}
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads."""
    expr = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)  # label values
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range durations
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for word in re.finditer(r"(?<![\w.$])[A-Za-z_:][\w:]*", expr):
        if expr[word.end() :].lstrip().startswith("("):
            continue  # a function
        if word.group().lower() not in _KEYWORDS:
            names.add(word.group())
    return names


def _balanced(expr: str) -> bool:
    depth = 0
    for char in expr:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, expression) of every query of every dashboard."""
    queries = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            queries += [(panel["title"], target["expr"]) for target in panel["targets"]]
    return queries


def test_the_name_check_finds_every_metric_of_an_expression_and_nothing_else() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, route)"
        ' (rate(aftersales_http_request_seconds_bucket{route!="/x", le=~"1.*"}[5m])))'
        " / ignoring(code) sum(aftersales_tickets_opend_total) > 1e3"
    )
    assert metric_names(expr) == {
        "aftersales_http_request_seconds_bucket",
        "aftersales_tickets_opend_total",
    }
    # The misspelt one is not exported: a dashboard or rule reading it fails the tests below.
    assert metric_names(expr) - exported() == {"aftersales_tickets_opend_total"}


def test_the_alert_rules_parse_and_alert_on_what_was_asked() -> None:
    alerts = {rule["alert"]: rule for rule in rules()}
    assert set(alerts) == {
        "WorkflowTasksFailing",
        "WorkflowTasksWaiting",
        "RefundsOverdue",
        "NotificationFailuresRising",
    }
    for name, rule in alerts.items():
        assert isinstance(rule["expr"], str) and _balanced(rule["expr"]), name
        assert rule["labels"]["severity"] in {"page", "ticket"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
    assert "temporal_workflow_task_execution_failed" in metric_names(
        alerts["WorkflowTasksFailing"]["expr"]
    )
    assert 'outcome="settlement_overdue"' in alerts["RefundsOverdue"]["expr"]


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_every_metric_an_alert_reads_is_exported(rule: dict[str, Any]) -> None:
    read = metric_names(rule["expr"])
    assert read and read <= exported(), read - exported()


def test_the_dashboard_parses_and_charts_what_was_asked() -> None:
    assert DASHBOARDS
    read = set().union(*(metric_names(expr) for _, expr in dashboard_queries()))
    assert {
        "aftersales_tickets_opened_total",
        "aftersales_tickets_ended_total",
        "aftersales_deadlines_fired_total",
        "aftersales_refunds_total",
        "aftersales_refund_settlement_seconds_bucket",
        "aftersales_notifications_failed_total",
        "aftersales_http_request_seconds_bucket",
        "aftersales_http_problems_total",
        "temporal_workflow_task_execution_failed",
        "temporal_workflow_task_schedule_to_start_latency_bucket",
    } <= read
    for title, expr in dashboard_queries():
        assert _balanced(expr), title


@pytest.mark.parametrize(("title", "expr"), dashboard_queries(), ids=lambda value: value[:40])
def test_every_metric_the_dashboard_reads_is_exported(title: str, expr: str) -> None:
    read = metric_names(expr)
    assert read and read <= exported(), (title, read - exported())
