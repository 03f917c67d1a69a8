"""docker-compose.yml, and the Dockerfile and deploy/ files it uses, agree with the Compose
Specification, settings.py, Temporal's server images and SPEC §9/§10.

There is no Docker engine in CI: the file is validated against the Compose Specification's JSON
schema (the copy check-jsonschema ships as `vendor.compose-spec`) and checked by parsing it.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import uvicorn.config
import yaml
from pydantic_settings import BaseSettings
from starlette.routing import Match

from settings import Settings
from stack.temporal_admin import SEARCH_ATTRIBUTES
from tests.support.spec import SEARCH_ATTRIBUTES as SPEC_ATTRIBUTES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DEMO_ENV = ROOT / "deploy" / "compose" / "demo.env"
GATEWAY_CONF = ROOT / "deploy" / "compose" / "nginx.conf"
OUR_COMMANDS = {
    "api": "uvicorn",
    "worker": "worker.py",
    "migrate": "persistence.migrate",
    "temporal-admin": "stack.temporal_admin",
    "payment-sandbox": "sandbox.payment_provider",
    "courier-sandbox": "sandbox.courier",
    "mailcatcher": "stack.mailcatcher",
}
REQUIRED = {"postgres", "temporal-schema", "temporal", "temporal-ui", "api-gateway", *OUR_COMMANDS}
JOBS = {"temporal-schema", "migrate", "temporal-admin"}  # run to completion; the rest runs on
SCALED = {"api", "worker"}
RESTARTS = {"no", "always", "unless-stopped", "on-failure"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
# Every secret the file needs; none may have a default in it.
SECRETS = {
    "POSTGRES_PASSWORD",
    "PAYMENT_SANDBOX_API_KEY",
    "PAYMENT_SANDBOX_WEBHOOK_SECRET",
    "COURIER_SANDBOX_API_KEY",
    "COURIER_SANDBOX_WEBHOOK_SECRET",
    "NOTIFY_WEBHOOK_SECRET",
}
# Environment variables of our services that uvicorn reads, not settings.py.
READ_BY_UVICORN = {"FORWARDED_ALLOW_IPS"}
# The oldest Temporal server release the brief of this file allows.
OLDEST_TEMPORAL = (1, 29)


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


def required_env_names(cls: type[BaseSettings] = Settings, prefix: str = "") -> set[str]:
    """Settings a process of ours cannot run without: fields without a default, and
    DATABASE_URL (optional for the run command, which starts its own PostgreSQL)."""
    prefix = cls.model_config.get("env_prefix") or prefix
    names = {"DATABASE_URL"} if cls is Settings else set()
    for name, field in cls.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseSettings):
            names |= required_env_names(kind)
        elif field.is_required():
            alias = field.validation_alias
            names.add(alias.upper() if isinstance(alias, str) else f"{prefix}{name}".upper())
    return names


def runs_our_code(command: list[str]) -> bool:
    """`python -m X` with X importable here, or `python <file>` with the file in the repo."""
    if command[:2] == ["python", "-m"]:
        return importlib.util.find_spec(command[2]) is not None
    return command[:1] == ["python"] and (ROOT / command[1]).is_file()


@cache
def _api_routes() -> list[Any]:
    from api.app import create_app

    return list(create_app().router.routes)


def api_serves(path: str) -> bool:
    """Whether the API built by `create_app` answers GET `path` with a route of its own."""
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": []}
    return any(route.matches(scope)[0] is Match.FULL for route in _api_routes())


def check_compose_schema(path: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec"]
    return subprocess.run(
        [*command, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def image_tag(image: str) -> str:
    name, _, tag = image.rpartition(":")
    return tag if name and "/" not in tag else ""


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


def bind_mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path of the service's bind mounts from this repository."""
    mounts = {}
    for volume in service.get("volumes") or []:
        source, target = str(volume).split(":")[:2]
        if source.startswith("./"):
            mounts[target] = ROOT / source
    return mounts


def test_the_compose_file_follows_the_compose_specification() -> None:
    result = check_compose_schema(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("good", "bad", "reported"),
    [
        # A condition Compose does not know.
        ("condition: service_completed_successfully", "condition: service_done", "service_done"),
        # A misspelled key of a service.
        ("    healthcheck:\n", "    healthchek:\n", "healthchek"),
        # A misspelled resource limit.
        ("          memory: 512M\n", "          memroy: 512M\n", "memroy"),
    ],
)
def test_the_schema_check_rejects_a_broken_compose_file(
    tmp_path: Path, good: str, bad: str, reported: str
) -> None:
    text = COMPOSE.read_text()
    assert good in text
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace(good, bad, 1))
    result = check_compose_schema(broken)
    assert result.returncode != 0
    assert reported in result.stdout + result.stderr


def test_settings_env_names_follow_the_prefixes() -> None:
    names = settings_env_names()
    assert {"DATABASE_URL", "TEMPORAL_ADDRESS", "DEADLINE_MERCHANT_REVIEW"} <= names
    assert {"PAYMENT_SANDBOX_WEBHOOK_SECRET", "REFUND_STATUS_POLL_INTERVAL"} <= names
    assert "REMINDERS_BEFORE_REVIEW_DEADLINE" in names
    assert "DEADLINES" not in names and "MERCHANT_REVIEW" not in names
    assert "DATABASE_URL" in required_env_names() <= names


def test_every_service_the_engine_needs_is_there(services: dict[str, dict[str, Any]]) -> None:
    assert services.keys() >= REQUIRED
    for name, module in OUR_COMMANDS.items():
        assert module in command_of(services[name]), name
        assert runs_our_code(services[name]["command"]), name


def test_our_services_run_our_image(services: dict[str, dict[str, Any]]) -> None:
    images = {services[name].get("image") for name in OUR_COMMANDS}
    assert len(images) == 1 and None not in images
    assert all(services[name].get("build") for name in OUR_COMMANDS)
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert version is not None and images == {f"aftersales:{version[1]}"}


def test_every_image_is_pinned_and_none_is_deprecated(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        tag = image_tag(service["image"])
        # A release number; Prometheus writes its own `v3.5.0`.
        assert tag and tag != "latest" and re.match(r"v?\d", tag), (name, service["image"])
    # Temporal deprecated its auto-setup image; its own compose files moved to
    # temporalio/server with a schema job from temporalio/admin-tools.
    texts = [COMPOSE, *sorted((ROOT / "deploy").rglob("*.*"))]
    for path in texts:
        assert "temporalio/auto-setup" not in path.read_text(), path


def test_the_schema_job_and_the_server_are_one_temporal_release(
    services: dict[str, dict[str, Any]],
) -> None:
    server, tools = services["temporal"]["image"], services["temporal-schema"]["image"]
    assert server.startswith("temporalio/server:") and tools.startswith("temporalio/admin-tools:")
    # The admin-tools image ships the schema files of its own release.
    assert image_tag(server) == image_tag(tools)
    release = tuple(int(part) for part in image_tag(server).split(".")[:2])
    assert release >= OLDEST_TEMPORAL
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:")


def test_the_temporal_server_mounts_a_dynamic_config_that_parses(
    services: dict[str, dict[str, Any]],
) -> None:
    temporal = services["temporal"]
    path = env_of(temporal)["DYNAMIC_CONFIG_FILE_PATH"]
    mounted = [
        source / Path(path).relative_to(target)
        for target, source in bind_mounts(temporal).items()
        if Path(path).is_relative_to(target)
    ]
    assert len(mounted) == 1 and mounted[0].is_file(), (path, mounted)
    config = yaml.safe_load(mounted[0].read_text())
    assert isinstance(config, dict) and config
    for key, values in config.items():
        assert isinstance(values, list) and values, key
        assert all(isinstance(value, dict) and "value" in value for value in values), key
    # Our workflow ids (ticket numbers) fit the SQL visibility store's VARCHAR(255).
    assert config["limit.maxIDLength"][0]["value"] <= 255


def schema_script(services: dict[str, dict[str, Any]]) -> Path:
    job = services["temporal-schema"]
    command = job["command"]
    assert command[0] in {"sh", "/bin/sh"}, command
    scripts = bind_mounts(job)
    assert command[1] in scripts, (command, scripts)
    return scripts[command[1]]


def shell_syntax_errors(script: Path) -> list[str]:
    """What `bash -n` and `sh -n` say of the script; empty when both accept it."""
    errors = []
    for shell in ("bash", "sh"):
        binary = shutil.which(shell)
        assert binary is not None, f"{shell} is missing"
        result = subprocess.run(
            [binary, "-n", str(script)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            errors.append(f"{shell}: {result.stderr.strip()}")
    return errors


def test_the_schema_job_runs_a_script_that_parses_with_what_it_needs(
    services: dict[str, dict[str, Any]],
) -> None:
    script = schema_script(services)
    assert script.is_file()
    assert shell_syntax_errors(script) == []
    text = script.read_text()
    needed = set(re.findall(r"\$\{(\w+):\?", text))
    job_env = env_of(services["temporal-schema"])
    assert needed and needed <= job_env.keys(), needed - job_env.keys()
    assert job_env["DB"] == "postgres12"
    # Both of Temporal's stores: the default one and SQL visibility.
    for store in ("temporal", "visibility"):
        assert re.search(rf"^setup_store \S+ {store}$", text, re.M), store
    for step in ("create-database", "setup-schema -v 0.0", "update-schema -d"):
        assert step in text, step
    assert "/etc/temporal/schema/postgresql/v12" in text
    # The server reads the same databases the job creates.
    server_env = env_of(services["temporal"])
    for name in ("DB", "POSTGRES_SEEDS", "DB_PORT", "POSTGRES_USER", "DBNAME", "VISIBILITY_DBNAME"):
        assert server_env[name] == job_env[name], name


def test_the_syntax_check_rejects_a_broken_script(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    text = schema_script(services).read_text()
    assert "\n  fi\n" in text
    broken = tmp_path / "setup-postgres.sh"
    broken.write_text(text.replace("\n  fi\n", "\n", 1))
    assert len(shell_syntax_errors(broken)) == 2


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
    assert temporal["DBNAME"] != temporal["VISIBILITY_DBNAME"]
    # The server's template listens on loopback only unless told otherwise.
    assert temporal["BIND_ON_IP"] == "0.0.0.0"


def test_payment_sandbox_and_api_point_at_each_other(services: dict[str, dict[str, Any]]) -> None:
    sandbox = command_of(services["payment-sandbox"])
    port = re.search(r"--port (\d+)", sandbox)
    assert port is not None
    assert env_of(services["api"])["PAYMENT_SANDBOX_URL"] == f"http://payment-sandbox:{port[1]}"
    assert "--webhook-url http://api:8000/v1/webhooks/payments/sandbox" in sandbox
    assert "--port 8000" in command_of(services["api"])


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
        if name == "api":
            unknown -= READ_BY_UVICORN
        assert not unknown, f"{name} sets {sorted(unknown)}, which settings.py does not read"
    commented = set(re.findall(r"#\s*([A-Z][A-Z0-9_]+):", COMPOSE.read_text()))
    assert commented, "the commented DEADLINE_* example is gone"
    assert commented <= known
    uvicorn_reads = inspect.getsource(uvicorn.config)
    for name in READ_BY_UVICORN:
        assert f'"{name}"' in uvicorn_reads, name


def test_our_processes_get_every_setting_they_cannot_run_without(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in ("api", "worker", "migrate", "temporal-admin"):
        missing = required_env_names() - env_of(services[name]).keys()
        assert not missing, (name, missing)


def test_secrets_have_no_default_in_the_file() -> None:
    text = COMPOSE.read_text()
    references = re.findall(r"\$\{(\w+)(:?[-?+]?)", text)
    assert {name for name, _ in references} == SECRETS
    for name, operator in references:
        assert operator == ":?", f"${{{name}{operator}…}}: a secret must be required"
    # Nor a secret written out: every value of a secret setting is a reference.
    env = yaml.safe_load(text)["x-common"]
    for name in SECRETS & env.keys():
        assert re.fullmatch(rf"\$\{{{name}:\?[^}}]+\}}", env[name]), name


def test_the_demo_env_file_says_what_it_is_and_sets_every_secret() -> None:
    text = DEMO_ENV.read_text()
    assert "LOCAL DEMO VALUES ONLY" in text.splitlines()[0]
    values = dict(
        line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")
    )
    assert values.keys() == SECRETS
    assert all(values.values())
    # The password goes into DATABASE_URL unencoded.
    assert re.fullmatch(r"[A-Za-z0-9._~-]+", values["POSTGRES_PASSWORD"])


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
            if condition == "service_completed_successfully":
                assert target in JOBS, f"{name} waits for {target} to end, which runs on"
    for name in ("api", "worker"):
        depends_on = services[name]["depends_on"]
        for job in ("migrate", "temporal-admin"):
            assert depends_on[job]["condition"] == "service_completed_successfully", (name, job)

    def waits_for(name: str, target: str) -> str:
        return str(services[name]["depends_on"][target]["condition"])

    assert waits_for("temporal-schema", "postgres") == "service_healthy"
    assert waits_for("temporal", "temporal-schema") == "service_completed_successfully"
    assert waits_for("temporal-admin", "temporal") == "service_healthy"
    assert waits_for("api-gateway", "api") == "service_healthy"


def test_jobs_run_to_completion_and_the_api_and_worker_scale(
    services: dict[str, dict[str, Any]],
) -> None:
    for job in JOBS:
        restart = str(services[job]["restart"])
        assert restart == "no" or re.fullmatch(r"on-failure:\d+", restart), (job, restart)
    for name in SCALED:
        service = services[name]
        assert "container_name" not in service and "ports" not in service, name
    published = {name: service["ports"] for name, service in services.items() if "ports" in service}
    api_ports = [name for name, ports in published.items() if "8000:8000" in ports]
    assert api_ports == ["api-gateway"]


def test_the_gateway_proxies_to_every_api_replica(services: dict[str, dict[str, Any]]) -> None:
    gateway = services["api-gateway"]
    assert bind_mounts(gateway) == {"/etc/nginx/nginx.conf": GATEWAY_CONF}
    conf = GATEWAY_CONF.read_text()
    api_port = re.search(r"--port (\d+)", command_of(services["api"]))
    assert api_port is not None
    # Resolved at request time through Docker's DNS, which answers with every replica.
    assert "resolver 127.0.0.11" in conf
    assert re.search(rf"set \$(\w+) http://api:{api_port[1]};\s+proxy_pass \$\1;", conf)
    listens = re.findall(r"listen (\d+);", conf)
    assert "8000" in listens
    # The caller's address replaces whatever X-Forwarded-For it sent.
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in conf
    assert env_of(services["api"])["FORWARDED_ALLOW_IPS"] == "*"
    check = " ".join(gateway["healthcheck"]["test"])
    health_port = re.search(r"127\.0\.0\.1:(\d+)/healthz", check)
    assert health_port is not None and health_port[1] in listens
    assert health_port[1] != "8000" and f"{health_port[1]}:" not in str(gateway["ports"])


def test_long_running_services_restart_and_state_a_health_check(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        restart = service.get("restart")
        assert restart in RESTARTS or str(restart).startswith("on-failure:"), (name, restart)
        if name in JOBS:
            assert restart != "always" and restart != "unless-stopped", name
            assert "healthcheck" not in service, name
            continue
        assert restart in {"always", "unless-stopped"}, f"{name} is not restarted when it exits"
        check = service.get("healthcheck") or {}
        assert not check.get("disable"), name
        test = check.get("test") or []
        assert test[:1] in (["CMD"], ["CMD-SHELL"]) and len(test) > 1, f"{name}: no health check"


def test_health_checks_ask_what_each_service_serves(services: dict[str, dict[str, Any]]) -> None:
    def test_of(name: str) -> str:
        return " ".join(services[name]["healthcheck"]["test"])

    api_check = re.search(r"127\.0\.0\.1:8000(/\w+)", test_of("api"))
    assert api_check is not None and api_check[1] == "/readyz" and api_serves(api_check[1])
    assert not api_serves("/no-such-endpoint")
    for name in ("payment-sandbox", "courier-sandbox"):
        port = re.search(r"--port (\d+)", command_of(services[name]))
        assert port is not None and f"127.0.0.1:{port[1]}/healthz" in test_of(name), name
    assert "smtplib" in test_of("mailcatcher") and "8025" in test_of("mailcatcher")
    module = re.search(r"python -m ([\w.]+)", test_of("worker"))
    assert module is not None and importlib.util.find_spec(module[1]) is not None
    assert "pg_isready" in test_of("postgres")
    # The server image has no Temporal CLI: a connection to the frontend's port is the check.
    assert test_of("temporal") == "CMD nc -z 127.0.0.1 7233"
    assert "7233:7233" in services["temporal"]["ports"]
    assert "/healthz" in test_of("temporal-ui")


def test_the_api_and_worker_have_resource_limits(services: dict[str, dict[str, Any]]) -> None:
    for name in (*SCALED, "api-gateway"):
        limits = services[name]["deploy"]["resources"]["limits"]
        assert float(limits["cpus"]) > 0, name
        assert re.fullmatch(r"\d+[MG]", str(limits["memory"])), name


def dockerfile_ids() -> tuple[int, int]:
    text = (ROOT / "Dockerfile").read_text()
    uid = re.search(r"useradd .*--uid (\d+)", text)
    gid = re.search(r"groupadd .*--gid (\d+)", text)
    assert uid is not None and gid is not None
    return int(uid[1]), int(gid[1])


def test_dockerfile_builds_a_non_root_image_of_the_project() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    assert "FROM python:3.11-slim" in lines
    assert any(re.match(r"RUN pip install \.(\s|$)", line) for line in lines)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}
    # Numeric, so Kubernetes' runAsNonRoot can check it.
    uid, gid = dockerfile_ids()
    assert users[-1] == f"{uid}:{gid}" and uid != 0
    (command,) = [line for line in lines if line.startswith("CMD ")]
    assert all(part in command for part in ("uvicorn", '"0.0.0.0"', '"8000"'))


def mounted(service: dict[str, Any], container_path: str) -> Path:
    """The repository file or folder behind `container_path` of one of the service's mounts."""
    for target, source in bind_mounts(service).items():
        if Path(container_path).is_relative_to(target):
            return source / Path(container_path).relative_to(target)
    raise AssertionError(f"{container_path} is not mounted from this repository")


def test_prometheus_scrapes_every_api_and_worker_replica(
    services: dict[str, dict[str, Any]],
) -> None:
    prometheus = services["prometheus"]
    [config_file] = [arg.split("=", 1)[1] for arg in prometheus["command"] if "config.file=" in arg]
    config = yaml.safe_load(mounted(prometheus, config_file).read_text())
    scraped = {}
    for job in config["scrape_configs"]:
        # Docker's DNS answers a service's name with the address of every one of its replicas.
        [discovery] = job["dns_sd_configs"]
        [service] = discovery["names"]
        scraped[service] = (str(discovery["port"]), job.get("metrics_path", "/metrics"))
    api_port = re.search(r"--port (\d+)", command_of(services["api"]))
    assert api_port is not None and api_serves("/metrics")
    host, worker_port = env_of(services["worker"])["WORKER_METRICS_ADDRESS"].rsplit(":", 1)
    assert host == "0.0.0.0"  # reachable from the prometheus container
    assert scraped == {"api": (api_port[1], "/metrics"), "worker": (worker_port, "/metrics")}
    assert config["rule_files"]
    for rules in config["rule_files"]:
        assert mounted(prometheus, rules).is_file(), rules


def test_grafana_shows_the_dashboards_of_the_repository_on_that_prometheus(
    services: dict[str, dict[str, Any]],
) -> None:
    grafana = services["grafana"]
    provisioning = mounted(grafana, "/etc/grafana/provisioning")
    [source] = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    assert "9090:9090" in services["prometheus"]["ports"]
    assert "127.0.0.1:9090/" in " ".join(services["prometheus"]["healthcheck"]["test"])
    [provider] = yaml.safe_load((provisioning / "dashboards" / "aftersales.yml").read_text())[
        "providers"
    ]
    folder = mounted(grafana, provider["options"]["path"])
    dashboards = sorted(folder.glob("*.json"))
    assert dashboards, folder
    for path in dashboards:
        panels = json.loads(path.read_text())["panels"]
        assert {panel["datasource"]["uid"] for panel in panels} == {source["uid"]}, path
    assert mounted(grafana, env_of(grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]).is_file()
    assert services["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"
