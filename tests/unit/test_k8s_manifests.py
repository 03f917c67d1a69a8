"""deploy/k8s: valid Kubernetes objects (kubernetes-validate, strict) that agree with the image,
settings.py, the API's endpoints and each other.

No cluster is needed: kubernetes-validate carries the OpenAPI schemas of each Kubernetes release.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from tests.unit.test_compose import (
    COMPOSE,
    ROOT,
    api_serves,
    dockerfile_ids,
    image_tag,
    required_env_names,
    runs_our_code,
    settings_env_names,
)

K8S = ROOT / "deploy" / "k8s"
# The oldest Kubernetes release the manifests are written for, and the newest that
# kubernetes-validate carries schemas of.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.utils.latest_version())
# Our processes that read settings.py, by component label.
ENGINE = {"api", "worker", "migrate", "temporal-admin"}
SANDBOXES = {"payment-sandbox", "courier-sandbox", "mailcatcher"}
CLUSTER_DOMAIN = "svc.cluster.local"

Manifest = dict[str, Any]


def load(path: Path) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


MANIFESTS: list[tuple[Path, Manifest]] = [
    (path, doc) for path in sorted(K8S.rglob("*.yaml")) for doc in load(path)
]


def ident(item: tuple[Path, Manifest]) -> str:
    path, doc = item
    return f"{path.relative_to(K8S)}:{doc['kind']}/{doc['metadata']['name']}"


def of_kind(kind: str) -> list[Manifest]:
    return [doc for _, doc in MANIFESTS if doc["kind"] == kind]


def one(kind: str, name: str) -> Manifest:
    (found,) = [doc for doc in of_kind(kind) if doc["metadata"]["name"] == name]
    return found


def pod_specs() -> dict[str, dict[str, Any]]:
    """Pod spec of every Deployment and Job, by its component label."""
    pods = {}
    for doc in of_kind("Deployment") + of_kind("Job"):
        template = doc["spec"]["template"]
        pods[template["metadata"]["labels"]["app.kubernetes.io/component"]] = template["spec"]
    return pods


def container(component: str) -> dict[str, Any]:
    (only,) = pod_specs()[component]["containers"]
    return dict(only)


def compose_services() -> dict[str, dict[str, Any]]:
    return dict(yaml.safe_load(COMPOSE.read_text())["services"])


def validate(doc: Manifest, version: str) -> None:
    kubernetes_validate.validate(doc, version, strict=True)


def test_there_are_manifests_for_every_part() -> None:
    kinds = {(doc["kind"], doc["metadata"]["name"]) for _, doc in MANIFESTS}
    for name in ("aftersales-api", "aftersales-worker"):
        assert {
            ("Deployment", name),
            ("PodDisruptionBudget", name),
            ("HorizontalPodAutoscaler", name),
        } <= kinds
    assert ("Service", "aftersales-api") in kinds
    assert {("Job", "aftersales-migrate"), ("Job", "aftersales-temporal-admin")} <= kinds
    assert {("ConfigMap", "aftersales-config"), ("Secret", "aftersales-secrets")} <= kinds
    assert pod_specs().keys() == ENGINE | SANDBOXES


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("item", MANIFESTS, ids=ident)
def test_every_manifest_is_a_valid_kubernetes_object(
    item: tuple[Path, Manifest], version: str
) -> None:
    validate(item[1], version)


@pytest.mark.parametrize(
    ("good", "bad", "reported"),
    [
        # A misspelled field: only strict validation rejects it.
        ("          readinessProbe:\n", "          readynessProbe:\n", "readynessProbe"),
        # A port that is not a number or a name.
        (
            "              containerPort: 8000\n",
            "              containerPort: http-8000x\n",
            "http-8000x",
        ),
        # A field of another object (a Job's) in a Deployment.
        ("  revisionHistoryLimit: 5\n", "  backoffLimit: 5\n", "backoffLimit"),
    ],
)
def test_the_validator_rejects_a_broken_manifest(
    tmp_path: Path, good: str, bad: str, reported: str
) -> None:
    source = K8S / "30-api.yaml"
    text = source.read_text()
    assert good in text
    broken = tmp_path / source.name
    broken.write_text(text.replace(good, bad, 1))
    (deployment,) = [doc for doc in load(broken) if doc["kind"] == "Deployment"]
    with pytest.raises(kubernetes_validate.ValidationError) as error:
        validate(deployment, KUBERNETES_VERSIONS[0])
    assert reported in str(error.value)


def test_everything_is_in_the_namespace_the_manifests_create() -> None:
    (namespace,) = of_kind("Namespace")
    name = namespace["metadata"]["name"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for _, doc in MANIFESTS:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == name, ident((K8S, doc))


def env_names_set(spec: dict[str, Any]) -> set[str]:
    """What the pod's one container gets as environment: its env, its ConfigMap's and Secret's
    keys."""
    (only,) = spec["containers"]
    names = {item["name"] for item in only.get("env") or []}
    for source in only.get("envFrom") or []:
        if "configMapRef" in source:
            names |= one("ConfigMap", source["configMapRef"]["name"])["data"].keys()
        if "secretRef" in source:
            names |= one("Secret", source["secretRef"]["name"])["stringData"].keys()
    return names


def test_every_env_name_is_a_setting() -> None:
    known = settings_env_names()
    (config,) = of_kind("ConfigMap")
    (secret,) = of_kind("Secret")
    assert not config["data"].keys() - known
    assert not secret["stringData"].keys() - known
    commented = re.findall(r"#\s*([A-Z][A-Z0-9_]+):", (K8S / "secret.example.yaml").read_text())
    assert commented and set(commented) <= known
    for component, spec in pod_specs().items():
        assert not env_names_set(spec) - known, component


def test_our_processes_get_every_setting_they_cannot_run_without() -> None:
    for component in ENGINE:
        spec = pod_specs()[component]
        missing = required_env_names() - env_names_set(spec)
        assert not missing, (component, missing)
        assert {"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_TASK_QUEUE"} <= env_names_set(
            spec
        ), component


def test_the_sandboxes_get_only_their_own_secrets() -> None:
    for component, prefix in (
        ("payment-sandbox", "PAYMENT_SANDBOX_"),
        ("courier-sandbox", "COURIER_SANDBOX_"),
    ):
        env = container(component)["env"]
        assert "envFrom" not in container(component)
        assert {item["name"] for item in env} == {f"{prefix}API_KEY", f"{prefix}WEBHOOK_SECRET"}
        for item in env:
            ref = item["valueFrom"]["secretKeyRef"]
            assert ref["key"] == item["name"]
            assert ref["key"] in one("Secret", ref["name"])["stringData"]


def test_the_secret_example_holds_only_fake_values() -> None:
    text = (K8S / "secret.example.yaml").read_text()
    assert text.startswith("# AN EXAMPLE WITH FAKE VALUES")
    (secret,) = of_kind("Secret")
    for key, value in secret["stringData"].items():
        assert "FAKE" in value, key
    # What is secret lives in the Secret, never in the ConfigMap.
    (config,) = of_kind("ConfigMap")
    assert not {
        name for name in config["data"] if re.search(r"KEY|SECRET|PASSWORD|DATABASE_URL", name)
    }


def test_containers_run_our_image_and_our_commands() -> None:
    compose = compose_services()
    image = compose["api"]["image"]
    for component, spec in pod_specs().items():
        (only,) = spec["containers"]
        assert only["image"] == image, component
        assert image_tag(only["image"]) not in {"", "latest"}
        assert runs_our_code(only["command"]), component
        ours = compose[component]["command"]
        if component in {"payment-sandbox", "courier-sandbox"}:
            # The same but for where webhooks go: the API's Service instead of compose's `api`.
            flag = ours.index("--webhook-url")
            assert only["command"][:flag] == ours[:flag], component
        else:
            assert only["command"] == ours, component


def named_ports(component: str) -> dict[str, int]:
    return {port["name"]: port["containerPort"] for port in container(component)["ports"]}


def test_probes_ask_what_each_container_serves() -> None:
    api = container("api")
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] in {"/healthz", "/livez"}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        check = api[probe]["httpGet"]
        assert api_serves(check["path"]), (probe, check["path"])
        assert check["port"] in named_ports("api"), probe
    assert named_ports("api")["http"] == int(api["command"][api["command"].index("--port") + 1])
    worker = container("worker")
    for probe in ("livenessProbe", "readinessProbe"):
        command = worker[probe]["exec"]["command"]
        assert command == ["python", "-m", "stack.worker_health"], probe
        assert runs_our_code(command)
        # A probe that outlives its timeout counts as failed; the check takes up to 2 x 5 s.
        assert worker[probe]["timeoutSeconds"] >= 10, probe
    assert compose_services()["worker"]["healthcheck"]["test"][1:] == command
    for component in ("payment-sandbox", "courier-sandbox"):
        check = container(component)["readinessProbe"]["httpGet"]
        assert check["path"] == "/healthz" and check["port"] in named_ports(component)
    assert container("mailcatcher")["readinessProbe"]["tcpSocket"]["port"] == "smtp"


def test_pods_run_as_the_image_user_and_never_as_root() -> None:
    uid, gid = dockerfile_ids()
    for component, spec in pod_specs().items():
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, component
        assert (pod["runAsUser"], pod["runAsGroup"], pod["fsGroup"]) == (uid, gid, gid), component
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", component
        assert spec["automountServiceAccountToken"] is False, component
        (only,) = spec["containers"]
        own = only["securityContext"]
        assert own["allowPrivilegeEscalation"] is False, component
        assert own["readOnlyRootFilesystem"] is True, component
        assert own["capabilities"]["drop"] == ["ALL"], component


def test_every_path_our_processes_write_is_a_mounted_volume() -> None:
    (config,) = of_kind("ConfigMap")
    data_dir = config["data"]["DATA_DIR"]
    for component, spec in pod_specs().items():
        (only,) = spec["containers"]
        mounts = {mount["mountPath"]: mount["name"] for mount in only["volumeMounts"]}
        volumes = {volume["name"]: volume for volume in spec["volumes"]}
        wanted = {"/tmp", data_dir}
        if "--data-dir" in only["command"]:
            wanted.add(only["command"][only["command"].index("--data-dir") + 1])
        if "--dir" in only["command"]:
            wanted.add(only["command"][only["command"].index("--dir") + 1])
        for path in wanted:
            assert path in mounts, (component, path)
            assert "emptyDir" in volumes[mounts[path]], (component, path)


def test_every_container_states_requests_and_limits() -> None:
    for component, spec in pod_specs().items():
        (only,) = spec["containers"]
        resources = only["resources"]
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= resources[bound].keys(), (component, bound)


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def test_the_api_and_worker_scale_without_losing_availability() -> None:
    for name in ("aftersales-api", "aftersales-worker"):
        deployment = one("Deployment", name)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert matches(deployment["spec"]["selector"]["matchLabels"], labels)
        # The autoscaler owns the count; an apply must not reset it.
        assert "replicas" not in deployment["spec"], name
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0, name
        budget = one("PodDisruptionBudget", name)
        assert matches(budget["spec"]["selector"]["matchLabels"], labels), name
        autoscaler = one("HorizontalPodAutoscaler", name)
        target = autoscaler["spec"]["scaleTargetRef"]
        assert (target["apiVersion"], target["kind"], target["name"]) == (
            "apps/v1",
            "Deployment",
            name,
        )
        low, high = autoscaler["spec"]["minReplicas"], autoscaler["spec"]["maxReplicas"]
        # One pod may be evicted and one always serves.
        assert budget["spec"]["maxUnavailable"] < low <= high, name
        (metric,) = autoscaler["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu"
        # Utilisation is relative to the request, so the container must state one.
        assert "cpu" in container(labels["app.kubernetes.io/component"])["resources"]["requests"]


def services_by_host() -> dict[str, Manifest]:
    return {doc["metadata"]["name"]: doc for doc in of_kind("Service")}


def test_services_reach_a_named_port_of_their_pods() -> None:
    deployments = of_kind("Deployment")
    for name, service in services_by_host().items():
        selector = service["spec"]["selector"]
        (pod,) = [
            doc["spec"]["template"]
            for doc in deployments
            if matches(selector, doc["spec"]["template"]["metadata"]["labels"])
        ]
        (only,) = pod["spec"]["containers"]
        ports = {port["name"] for port in only["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, (name, port)


def service_port(host: str, port: int) -> bool:
    service = services_by_host().get(host)
    return service is not None and any(p["port"] == port for p in service["spec"]["ports"])


def test_in_cluster_addresses_are_services_of_these_manifests() -> None:
    (config,) = of_kind("ConfigMap")
    data = config["data"]
    for name in ("PAYMENT_SANDBOX_URL", "COURIER_SANDBOX_URL"):
        url = urlsplit(data[name])
        assert url.hostname is not None and url.port is not None
        assert service_port(url.hostname, url.port), name
    assert service_port(data["NOTIFY_SMTP_HOST"], int(data["NOTIFY_SMTP_PORT"]))
    for component in ("payment-sandbox", "courier-sandbox"):
        command = container(component)["command"]
        url = urlsplit(command[command.index("--webhook-url") + 1])
        assert url.hostname is not None
        assert service_port(url.hostname, url.port or 80), component
        assert url.path.startswith("/v1/webhooks/")
    # The frontend Service of Temporal's Helm chart: `<release>-frontend` in the release's
    # namespace, gRPC on 7233.
    host, _, port = data["TEMPORAL_ADDRESS"].rpartition(":")
    assert re.fullmatch(rf"[a-z0-9-]+-frontend\.[a-z0-9-]+\.{re.escape(CLUSTER_DOMAIN)}", host)
    assert port == "7233"


def test_the_jobs_run_to_completion_once() -> None:
    for name, command in (
        ("aftersales-migrate", ["python", "-m", "persistence.migrate"]),
        ("aftersales-temporal-admin", ["python", "-m", "stack.temporal_admin"]),
    ):
        job = one("Job", name)
        spec = job["spec"]
        assert spec["template"]["spec"]["restartPolicy"] in {"Never", "OnFailure"}, name
        assert 0 < spec["backoffLimit"] <= 10, name
        assert spec["activeDeadlineSeconds"] > 0 and spec["ttlSecondsAfterFinished"] > 0, name
        (only,) = spec["template"]["spec"]["containers"]
        assert only["command"] == command, name


def test_a_validation_error_names_the_broken_field() -> None:
    deployment = copy.deepcopy(one("Deployment", "aftersales-worker"))
    (worker,) = deployment["spec"]["template"]["spec"]["containers"]
    worker["securityContext"]["readOnlyRootFilesytem"] = True
    with pytest.raises(kubernetes_validate.ValidationError) as error:
        validate(deployment, KUBERNETES_VERSIONS[-1])
    assert "readOnlyRootFilesytem" in str(error.value)
