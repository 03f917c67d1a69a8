"""docker-compose.yml (and the Dockerfile it builds) agree with settings.py and SPEC §9/§10.

There is no Docker engine in CI, so the files are checked by parsing them.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from settings import Settings
from stack.temporal_admin import SEARCH_ATTRIBUTES
from tests.support.spec import SEARCH_ATTRIBUTES as SPEC_ATTRIBUTES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
OUR_COMMANDS = {
    "api": "uvicorn",
    "worker": "worker.py",
    "migrate": "persistence.migrate",
    "temporal-admin": "stack.temporal_admin",
    "payment-sandbox": "sandbox.payment_provider",
    "courier-sandbox": "sandbox.courier",
    "mailcatcher": "stack.mailcatcher",
}
REQUIRED = {"postgres", "temporal", "temporal-ui", *OUR_COMMANDS}
JOBS = {"migrate", "temporal-admin"}  # run once to completion; every other service runs on
RESTARTS = {"no", "always", "unless-stopped", "on-failure"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


def settings_env_names(cls: type[BaseSettings] = Settings, prefix: str = "") -> set[str]:
    """Environment names a settings class reads: its env_prefix plus each field, upper-cased,
    or the field's alias; nested settings groups read their own prefix."""
    prefix = cls.model_config.get("env_prefix") or prefix
    names: set[str] = set()
    for name, field in cls.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseSettings):
            names |= settings_env_names(kind)
        elif isinstance(field.validation_alias, str):
            names.add(field.validation_alias.upper())
        else:
            names.add(f"{prefix}{name}".upper())
    return names


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    document = yaml.safe_load(COMPOSE.read_text())
    return dict(document["services"])


def command_of(service: dict[str, Any]) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else str(command)


def env_of(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {str(key): str(value) for key, value in environment.items()}


def test_settings_env_names_follow_the_prefixes() -> None:
    names = settings_env_names()
    assert {"DATABASE_URL", "TEMPORAL_ADDRESS", "DEADLINE_MERCHANT_REVIEW"} <= names
    assert {"PAYMENT_SANDBOX_WEBHOOK_SECRET", "REFUND_STATUS_POLL_INTERVAL"} <= names
    assert "REMINDERS_BEFORE_REVIEW_DEADLINE" in names
    assert "DEADLINES" not in names and "MERCHANT_REVIEW" not in names


def test_every_service_the_engine_needs_is_there(services: dict[str, dict[str, Any]]) -> None:
    assert services.keys() >= REQUIRED
    for name, module in OUR_COMMANDS.items():
        assert module in command_of(services[name]), name


def test_our_services_run_our_image(services: dict[str, dict[str, Any]]) -> None:
    images = {services[name].get("image") for name in OUR_COMMANDS}
    assert len(images) == 1 and None not in images
    assert all(services[name].get("build") for name in OUR_COMMANDS)


def test_connections_reach_the_right_services(services: dict[str, dict[str, Any]]) -> None:
    for name in ("api", "worker", "migrate"):
        url = env_of(services[name]).get("DATABASE_URL", "")
        assert url.startswith("postgresql+psycopg://"), name
        assert "@postgres:5432/aftersales" in url, name
    namespaces = set()
    for name in ("api", "worker", "temporal-admin"):
        env = env_of(services[name])
        assert env.get("TEMPORAL_ADDRESS") == "temporal:7233", name
        namespaces.add(env.get("TEMPORAL_NAMESPACE"))
    assert len(namespaces) == 1 and None not in namespaces
    assert env_of(services["temporal-ui"])["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert "8233:8080" in services["temporal-ui"]["ports"]
    temporal = env_of(services["temporal"])
    assert temporal["DB"] == "postgres12" and temporal["POSTGRES_SEEDS"] == "postgres"
    assert temporal["DBNAME"] != "aftersales" and temporal["VISIBILITY_DBNAME"] != "aftersales"


def test_payment_sandbox_and_api_point_at_each_other(services: dict[str, dict[str, Any]]) -> None:
    sandbox = command_of(services["payment-sandbox"])
    port = re.search(r"--port (\d+)", sandbox)
    assert port is not None
    assert env_of(services["api"])["PAYMENT_SANDBOX_URL"] == f"http://payment-sandbox:{port[1]}"
    assert "--webhook-url http://api:8000/v1/webhooks/payments/sandbox" in sandbox
    assert "--port 8000" in command_of(services["api"])
    assert "8000:8000" in services["api"]["ports"]


def test_courier_sandbox_and_mail_sink_are_wired(services: dict[str, dict[str, Any]]) -> None:
    courier = command_of(services["courier-sandbox"])
    assert "--port 8020" in courier
    assert "--webhook-url http://api:8000/v1/webhooks/couriers/{carrier}" in courier
    env = env_of(services["worker"])
    assert env["COURIER_SANDBOX_URL"] == "http://courier-sandbox:8020"
    assert env["NOTIFY_SMTP_HOST"] == "mailcatcher"
    assert f"--port {env['NOTIFY_SMTP_PORT']}" in command_of(services["mailcatcher"])


def test_every_env_name_of_ours_is_a_setting(services: dict[str, dict[str, Any]]) -> None:
    known = settings_env_names()
    for name in OUR_COMMANDS:
        unknown = set(env_of(services[name])) - known
        assert not unknown, f"{name} sets {sorted(unknown)}, which settings.py does not read"
    commented = set(re.findall(r"#\s*([A-Z][A-Z0-9_]+):", COMPOSE.read_text()))
    assert commented, "the commented DEADLINE_* example is gone"
    assert commented <= known


def test_admin_job_registers_the_nine_search_attributes_of_spec_9() -> None:
    assert SEARCH_ATTRIBUTES == SPEC_ATTRIBUTES


def test_dependencies_exist_and_are_meaningful(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        depends_on = service.get("depends_on") or {}
        if isinstance(depends_on, list):
            depends_on = {target: {"condition": "service_started"} for target in depends_on}
        for target, rule in depends_on.items():
            assert target in services, f"{name} depends on unknown service {target}"
            condition = rule.get("condition", "service_started")
            assert condition in CONDITIONS, f"{name} -> {target}: {condition}"
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no healthcheck"
    for name in ("api", "worker"):
        depends_on = services[name]["depends_on"]
        for job in ("migrate", "temporal-admin"):
            assert depends_on[job]["condition"] == "service_completed_successfully", (name, job)
    assert services["temporal-admin"]["depends_on"]["temporal"]["condition"] == "service_healthy"
    assert services["temporal"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_jobs_run_once_and_workers_scale(services: dict[str, dict[str, Any]]) -> None:
    for job in ("migrate", "temporal-admin"):
        assert services[job]["restart"] == "no", job
    worker = services["worker"]
    assert "container_name" not in worker and "ports" not in worker


def test_long_running_services_restart_and_state_a_health_check(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        restart = service.get("restart")
        assert restart in RESTARTS or str(restart).startswith("on-failure:"), (name, restart)
        if name in JOBS:
            assert restart == "no" and "healthcheck" not in service, name
            continue
        assert restart in {"always", "unless-stopped"}, f"{name} is not restarted when it exits"
        check = service.get("healthcheck") or {}
        assert not check.get("disable"), name
        test = check.get("test") or []
        assert test[:1] in (["CMD"], ["CMD-SHELL"]) and len(test) > 1, f"{name}: no health check"


def test_health_checks_ask_what_each_service_serves(services: dict[str, dict[str, Any]]) -> None:
    def test_of(name: str) -> str:
        return " ".join(services[name]["healthcheck"]["test"])

    assert "127.0.0.1:8000/readyz" in test_of("api")
    for name in ("payment-sandbox", "courier-sandbox"):
        port = re.search(r"--port (\d+)", command_of(services[name]))
        assert port is not None and f"127.0.0.1:{port[1]}/healthz" in test_of(name), name
    assert "smtplib" in test_of("mailcatcher") and "8025" in test_of("mailcatcher")
    module = re.search(r"python -m ([\w.]+)", test_of("worker"))
    assert module is not None and importlib.util.find_spec(module[1]) is not None
    assert "pg_isready" in test_of("postgres")
    assert "cluster health" in test_of("temporal")
    assert "/healthz" in test_of("temporal-ui")


def test_dockerfile_builds_a_non_root_image_of_the_project() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    assert "FROM python:3.11-slim" in lines
    assert any(re.match(r"RUN pip install \.(\s|$)", line) for line in lines)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}
    (command,) = [line for line in lines if line.startswith("CMD ")]
    assert all(part in command for part in ("uvicorn", '"0.0.0.0"', '"8000"'))
