"""deploy/kubernetes: valid manifests, and wired the way the server and Redis need them.

The kustomization is rendered here from its own lists (resources, generators, namespace), so
the checks run without kubectl; where kubectl is installed, its rendering must agree.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import kubernetes_validate
import pytest
import yaml

from openrouter_image_mcp import __version__
from openrouter_image_mcp.settings import Settings
from tests.app.helpers import ALICE_TOKEN, TOKENS, auth, serving
from tests.deploy.helpers import ROOT, redis_options, server_environment, tool
from tests.fake_openrouter import FakeOpenRouter

KUSTOMIZE = ROOT / "deploy" / "kubernetes"
RENDERED_KEYS = {"apiVersion", "kind", "namespace", "resources"}
RENDERED_KEYS |= {"configMapGenerator", "secretGenerator"}
SECRET_KEYS = {"OPENROUTER_API_KEY", "IMAGE_MCP_AUTH_TOKENS"}
POD_VOLUME_TYPES = {"emptyDir", "persistentVolumeClaim", "configMap", "secret", "projected"}
Manifest = dict[str, Any]


# --- Rendering --------------------------------------------------------------------------------


def kustomization() -> dict[str, Any]:
    return yaml.safe_load((KUSTOMIZE / "kustomization.yaml").read_text())


def env_file(name: str) -> dict[str, str]:
    """A kustomize env file: NAME=value lines, comments and blank lines skipped."""
    lines = (KUSTOMIZE / name).read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.startswith("#")]
    return dict(pairs)


def generated(kind: str, generator: dict[str, Any]) -> Manifest:
    # secrets.env is the operator's own (git-ignored) copy of secrets.env.example.
    files = [f"{name}.example" if kind == "Secret" else name for name in generator["envs"]]
    values = {key: value for name in files for key, value in env_file(name).items()}
    manifest: Manifest = {"apiVersion": "v1", "kind": kind, "metadata": {"name": generator["name"]}}
    if kind == "Secret":
        manifest["type"] = "Opaque"
        values = {key: base64.b64encode(value.encode()).decode() for key, value in values.items()}
    manifest["data"] = values
    return manifest


def render() -> list[Manifest]:
    """What `kubectl apply -k` would apply, less the generators' name suffixes."""
    spec = kustomization()
    assert set(spec) <= RENDERED_KEYS, "the kustomization uses something this test ignores"
    manifests = [
        manifest
        for resource in spec["resources"]
        for manifest in yaml.safe_load_all((KUSTOMIZE / resource).read_text())
    ]
    manifests += [generated("ConfigMap", g) for g in spec.get("configMapGenerator", [])]
    manifests += [generated("Secret", g) for g in spec.get("secretGenerator", [])]
    for manifest in manifests:
        if manifest["kind"] != "Namespace":
            manifest["metadata"]["namespace"] = spec["namespace"]
    return manifests


def by_kind(kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in render() if m["kind"] == kind}


def workloads() -> dict[str, Manifest]:
    return {**by_kind("Deployment"), **by_kind("StatefulSet")}


def server() -> Manifest:
    return by_kind("Deployment")["image-mcp"]


def server_container() -> Manifest:
    (container,) = server()["spec"]["template"]["spec"]["containers"]
    return container


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def redis_behind(url: str) -> Manifest:
    """The workload a Redis URL reaches through its Service."""
    parts = urlsplit(url)
    service = by_kind("Service")[parts.hostname or ""]
    (port,) = service["spec"]["ports"]
    assert port["port"] == parts.port
    (workload,) = [
        workload
        for workload in workloads().values()
        if selects(service["spec"]["selector"], workload["spec"]["template"]["metadata"]["labels"])
    ]
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    assert port["targetPort"] in {p["name"] for p in container["ports"]}
    assert container["command"] == ["redis-server"]
    return workload


def mebibytes(quantity: str) -> float:
    """A Kubernetes memory quantity (Mi, Gi) or a Redis one (mb, gb: binary) in MiB."""
    number, unit = re.fullmatch(r"(\d+)([A-Za-z]+)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * {"mi": 1, "mb": 1, "gi": 1024, "gb": 1024}[unit.lower()]


# --- Validity -----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.27.0", kubernetes_validate.latest_version()])
def test_every_manifest_is_valid_kubernetes(version: str) -> None:
    manifests = render()
    for manifest in manifests:
        kubernetes_validate.validate(manifest, version, strict=True)
    assert {m["kind"] for m in manifests} >= {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "StatefulSet",
        "Secret",
        "ConfigMap",
    }


def kustomizing_kubectl() -> str:
    """kubectl with a built-in kustomize recent enough for `envs` generators (v4+)."""
    kubectl = tool("kubectl", "kubectl (with its built-in kustomize)")
    version = subprocess.run(
        [kubectl, "version", "--client", "-o", "json"], capture_output=True, text=True, timeout=60
    )
    kustomize = json.loads(version.stdout or "{}").get("kustomizeVersion", "v0")
    if int(kustomize.removeprefix("v").split(".")[0]) < 4:
        pytest.skip(f"kubectl's kustomize is {kustomize}; this check needs v4 or later")
    return kubectl


def test_kubectl_renders_the_same_manifests(tmp_path: Path) -> None:
    kubectl = kustomizing_kubectl()
    copy = shutil.copytree(KUSTOMIZE, tmp_path / "kubernetes")
    shutil.copy(copy / "secrets.env.example", copy / "secrets.env")
    result = subprocess.run(
        [kubectl, "kustomize", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    # kustomize names each generated object after a hash of its content; this render does not.
    unsuffixed = re.sub(r"(image-mcp-(config|secrets))-[a-z0-9]{10}\b", r"\1", result.stdout)

    def keyed(manifests: Any) -> dict[tuple[str, str], Manifest]:
        return {(m["kind"], m["metadata"]["name"]): m for m in manifests}

    assert keyed(yaml.safe_load_all(unsuffixed)) == keyed(render())


# --- Wiring -----------------------------------------------------------------------------------


def test_the_server_image_is_this_release() -> None:
    assert server_container()["image"] == f"openrouter-image-mcp:{__version__}"


def test_the_probes_and_the_service_reach_the_servers_port() -> None:
    container = server_container()
    (port,) = container["ports"]
    env = {item["name"]: item["value"] for item in container["env"]}
    service = by_kind("Service")["image-mcp"]
    (service_port,) = service["spec"]["ports"]

    assert int(env["IMAGE_MCP_PORT"]) == port["containerPort"]
    assert env["IMAGE_MCP_HOST"] == "0.0.0.0"
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert service_port["targetPort"] == port["name"]
    assert selects(service["spec"]["selector"], server()["spec"]["template"]["metadata"]["labels"])


async def test_the_probe_paths_answer_200_on_a_running_server(fake: FakeOpenRouter) -> None:
    container = server_container()
    paths = {container[probe]["httpGet"]["path"] for probe in ("readinessProbe", "livenessProbe")}
    async with serving(fake.settings()) as url, httpx.AsyncClient(base_url=url) as http:
        # Probes come with the pod's IP as Host, which is on no allow-list.
        statuses = {
            path: (await http.get(path, headers={"Host": "10.1.2.3:8000"})).status_code
            for path in paths
        }
    assert statuses == {"/readyz": 200, "/healthz": 200}


async def test_the_scrape_annotations_find_the_metrics(fake: FakeOpenRouter) -> None:
    annotations = server()["spec"]["template"]["metadata"]["annotations"]
    (port,) = server_container()["ports"]
    settings = fake.settings(auth_tokens=TOKENS)
    async with serving(settings) as url, httpx.AsyncClient(base_url=url) as http:
        path = annotations["prometheus.io/path"]
        # Scraped by the pod's address, with the token the scrape job is given.
        headers = {"Host": f"10.1.2.3:{port['containerPort']}"}
        anonymous = await http.get(path, headers=headers)
        scraped = await http.get(path, headers={**headers, **auth(ALICE_TOKEN)})

    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == port["containerPort"]
    assert anonymous.status_code == 401
    assert scraped.status_code == 200
    assert "image_mcp_tool_calls_total" in scraped.text


def test_the_pods_get_valid_settings_from_the_config_and_the_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = {
        "OPENROUTER_API_KEY": "sk-or-v1-" + "0" * 64,
        "IMAGE_MCP_AUTH_TOKENS": "a:" + "1" * 32,
    }
    container_env = {item["name"]: item["value"] for item in server_container()["env"]}
    server_environment(monkeypatch, {**env_file("config.env"), **secret, **container_env})

    settings = Settings()

    assert settings.stateless_http
    assert settings.redis_url is not None
    assert settings.cache_redis_url is not None
    assert settings.host == "0.0.0.0"


def test_secrets_come_only_from_the_generated_secret() -> None:
    spec = kustomization()
    container = server_container()
    refs = container["envFrom"]
    generated_secrets = {g["name"] for g in spec["secretGenerator"]}
    generated_configs = {g["name"] for g in spec["configMapGenerator"]}

    # Last, so that a key in both (an external Redis URL with a password) takes the Secret's.
    assert refs[-1]["secretRef"]["name"] in generated_secrets
    assert {
        ref["configMapRef"]["name"] for ref in refs if "configMapRef" in ref
    } <= generated_configs
    assert set(env_file("secrets.env.example")) == SECRET_KEYS
    assert set(env_file("secrets.env.example").values()) == {""}  # an example, never a secret
    assert not SECRET_KEYS & {item["name"] for item in container["env"]}
    assert not SECRET_KEYS & set(env_file("config.env"))
    for resource in spec["resources"]:
        kinds = {m["kind"] for m in yaml.safe_load_all((KUSTOMIZE / resource).read_text())}
        assert "Secret" not in kinds, resource
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "deploy/kubernetes/secrets.env"], cwd=ROOT, check=False
    )
    assert ignored.returncode == 0, "secrets.env must be git-ignored"


def test_limits_and_budgets_live_in_a_persisted_redis_that_never_evicts() -> None:
    workload = redis_behind(env_file("config.env")["IMAGE_MCP_REDIS_URL"])
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    (claim,) = workload["spec"]["volumeClaimTemplates"]
    options = redis_options(container["args"])

    assert workload["kind"] == "StatefulSet"
    assert options["maxmemory-policy"] == "noeviction"
    assert options["appendonly"] == "yes"
    assert {"name": claim["metadata"]["name"], "mountPath": "/data"} in container["volumeMounts"]


def test_answers_live_in_a_bounded_lru_redis() -> None:
    workload = redis_behind(env_file("config.env")["IMAGE_MCP_CACHE_REDIS_URL"])
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    options = redis_options(container["args"])

    assert options["maxmemory-policy"] == "allkeys-lru"
    assert mebibytes(options["maxmemory"]) < mebibytes(container["resources"]["limits"]["memory"])
    assert options["appendonly"] == "no"


def test_only_the_server_may_reach_redis() -> None:
    (policy,) = by_kind("NetworkPolicy").values()
    (rule,) = policy["spec"]["ingress"]
    (source,) = rule["from"]
    (expression,) = policy["spec"]["podSelector"]["matchExpressions"]
    redis_labels = [
        redis_behind(env_file("config.env")[name])["spec"]["template"]["metadata"]["labels"]
        for name in ("IMAGE_MCP_REDIS_URL", "IMAGE_MCP_CACHE_REDIS_URL")
    ]

    assert selects(
        source["podSelector"]["matchLabels"], server()["spec"]["template"]["metadata"]["labels"]
    )
    assert rule["ports"] == [{"protocol": "TCP", "port": 6379}]
    assert expression["operator"] == "In"
    assert set(expression["values"]) == {labels[expression["key"]] for labels in redis_labels}


def test_a_stopping_pod_outlasts_the_servers_drain() -> None:
    pod = server()["spec"]["template"]["spec"]
    pre_stop = server_container()["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    grace = env_file("config.env").get(
        "IMAGE_MCP_SHUTDOWN_GRACE_S", str(Settings.model_fields["shutdown_grace_s"].default)
    )

    assert pod["terminationGracePeriodSeconds"] >= int(pre_stop[1]) + float(grace) + 5


def test_the_autoscaler_owns_the_replica_count_and_drains_keep_one() -> None:
    (autoscaler,) = by_kind("HorizontalPodAutoscaler").values()
    (budget,) = by_kind("PodDisruptionBudget").values()
    target = autoscaler["spec"]["scaleTargetRef"]

    assert (target["kind"], target["name"]) == ("Deployment", "image-mcp")
    assert "replicas" not in server()["spec"]
    assert 2 <= autoscaler["spec"]["minReplicas"] < autoscaler["spec"]["maxReplicas"]
    assert 1 <= budget["spec"]["minAvailable"] < autoscaler["spec"]["minReplicas"]
    labels = server()["spec"]["template"]["metadata"]["labels"]
    assert selects(budget["spec"]["selector"]["matchLabels"], labels)


def test_the_server_has_memory_for_its_image_work_and_a_writable_tmp() -> None:
    container = server_container()
    resources = container["resources"]
    volumes = {v["name"]: v for v in server()["spec"]["template"]["spec"]["volumes"]}
    (mount,) = container["volumeMounts"]

    # Two general workers each decoding a 50-megapixel image (~450 MiB apiece, measured on the
    # hostile-container test's 49 MP PNG) beside the server at its peak (~330 MiB).
    assert mebibytes(resources["limits"]["memory"]) >= 2 * 450 + 330
    assert mebibytes(resources["requests"]["memory"]) <= mebibytes(resources["limits"]["memory"])
    assert mount["mountPath"] == "/tmp"
    assert "emptyDir" in volumes[mount["name"]]


@pytest.mark.parametrize("workload", sorted(workloads()))
def test_every_pod_meets_the_restricted_pod_security_standard(workload: str) -> None:
    pod = workloads()[workload]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    # Service links would put IMAGE_MCP_PORT=tcp://... (for the Service "image-mcp") in the
    # environment, over the server's own port setting.
    assert pod["enableServiceLinks"] is False
    assert {kind for volume in pod.get("volumes", []) for kind in volume} - {"name"} <= (
        POD_VOLUME_TYPES
    )
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert "memory" in container["resources"]["limits"]
    (namespace,) = by_kind("Namespace").values()
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
