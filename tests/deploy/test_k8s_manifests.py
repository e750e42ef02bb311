"""deploy/k8s renders with kubectl kustomize, alone and with every set of components that go together, and
every object it makes passes the Kubernetes schema of each supported version and the platform's policy.

The drift of the files themselves is tests/deploy/test_deploy_files.py's: they are what the registry makes.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from gateway.settings import GatewaySettings
from recgpt_serving.agent_runner import AgentServiceSettings
from recgpt_tools import registry, vllm_engine
from recgpt_tools.k8s import components, objects, policy, validate
from recgpt_tools.k8s.objects import Manifest
from recgpt_tools.k8s.validate import Rendering

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl renders the kustomizations")


@pytest.fixture(scope="module")
def renderings() -> list[Rendering]:
    started = time.perf_counter()
    rendered = validate.render_all(REPO_ROOT)
    print(f"rendered {len(rendered)} kustomizations in {time.perf_counter() - started:.1f} s")
    return rendered


def _by_label(renderings: list[Rendering], label: str) -> list[Manifest]:
    return next(r.manifests for r in renderings if r.label == label)


def _find(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    return next(m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name)


def test_every_compatible_set_of_components_and_the_overlay_render(renderings: list[Rendering]) -> None:
    # 6 platform components, two of which conflict: 2**6 sets less the 2**4 holding both; each of the 2
    # add-ons alone and both on each of the 2 largest sets (gpu-engines', production-stack's); the overlay.
    assert len(renderings) == 2**6 - 2**4 + 2 + 2 + 1
    assert all(r.manifests for r in renderings)
    assert not any("gpu-engines" in r.label and "production-stack" in r.label for r in renderings)


def test_every_object_passes_the_schemas_and_the_policy(renderings: list[Rendering]) -> None:
    started = time.perf_counter()
    deployed = {p.name for p in objects.deployed(registry.PROCESSES)}
    public = {objects.public_service(p) for p in registry.PROCESSES if p.public}
    problems: list[str] = []
    seen: dict[str, Manifest] = {}
    for rendering in renderings:
        problems += policy.problems(rendering.manifests, deployed - rendering.removed, public)
        for manifest in rendering.manifests:
            seen.setdefault(repr(sorted(manifest.items())), manifest)
    for manifest in seen.values():
        problems += validate.schema_problems(manifest)
    print(f"validated {len(seen)} distinct objects in {time.perf_counter() - started:.1f} s")
    assert problems == []


def test_every_process_runs_with_the_registry_s_resources_probes_and_grace(
    renderings: list[Rendering],
) -> None:
    base = _by_label(renderings, "base")
    for process in objects.deployed(registry.PROCESSES):
        pod = _find(base, "Deployment", process.name)["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert pod["terminationGracePeriodSeconds"] == process.termination_grace_s
        assert container["resources"]["limits"]["memory"] == f"{process.resources.memory_limit_mib}Mi"
        assert container["lifecycle"]["preStop"] == {"sleep": {"seconds": registry.PRE_STOP_S}}
        if process.grpc_service is not None:
            assert container["readinessProbe"]["grpc"] == {
                "port": process.port,
                "service": process.grpc_service,
            }
            assert container["startupProbe"]["failureThreshold"] * 5 >= process.startup_s
    gateway = _find(base, "Deployment", "gateway")["spec"]["template"]["spec"]["containers"][0]
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_grace_outlasts_the_longest_deadline_of_each_service() -> None:
    """A rollout must not cut off a call in flight: the gateway's feed parse, the agents' LLM call."""
    gateway = registry.by_name("gateway")
    feed = GatewaySettings.model_fields["feed_parse_deadline_s"].default
    wait = registry.PRE_STOP_S + registry.SERVICE_DRAIN_S
    assert gateway.termination_grace_s > wait + feed
    agent_deadline = AgentServiceSettings.model_fields["llm_deadline_s"].default
    for name in ("intent", "tags", "explain", "judge"):
        assert registry.by_name(name).termination_grace_s > wait + agent_deadline


def test_callers_reach_grpc_services_through_headless_services(renderings: list[Rendering]) -> None:
    base = _by_label(renderings, "base")
    gateway = _find(base, "Deployment", "gateway")["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: item.get("value") for item in gateway["env"]}
    assert env["RECGPT_RETRIEVAL_TARGET"] == "dns:///retrieval-headless.recgpt.svc.cluster.local:50051"
    headless = _find(base, "Service", "retrieval-headless")
    assert headless["spec"]["clusterIP"] == "None"
    assert _find(base, "Service", "gateway-public")["spec"]["type"] == "LoadBalancer"
    assert {m["spec"].get("type") for m in base if m["kind"] == "Service"} == {
        "ClusterIP",
        None,
        "LoadBalancer",
    }


def test_components_change_what_they_say(renderings: list[Rendering]) -> None:
    external = _by_label(renderings, "external-redis")
    assert not [m for m in external if m["metadata"]["name"] == "redis"]
    retrieval = _find(external, "Deployment", "retrieval")["spec"]["template"]["spec"]["containers"][0]
    assert retrieval["envFrom"][0] == {"secretRef": {"name": objects.EXTERNAL_REDIS_SECRET}}
    gpu = _find(_by_label(renderings, "gpu-engines"), "Deployment", "vllm")["spec"]["template"]["spec"]
    assert gpu["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "--enforce-eager" not in gpu["containers"][0]["command"]
    stack = _by_label(renderings, "production-stack")
    llm = next(
        m for m in stack if m["kind"] == "ConfigMap" and m["metadata"]["name"].startswith("recgpt-llm")
    )
    assert llm["data"]["RECGPT_LLM_ENDPOINTS"] == objects.ROUTER_URL
    assert not [m for m in stack if m["kind"] == "Deployment" and m["metadata"]["name"] == "vllm"]
    scaled = _by_label(renderings, "autoscaling")
    assert "replicas" not in _find(scaled, "Deployment", "gateway")["spec"]
    assert _find(scaled, "HorizontalPodAutoscaler", "gateway")["spec"]["maxReplicas"] == 10
    assert _find(scaled, "ScaledObject", "nearline")["spec"]["triggers"][0]["type"] == "prometheus"
    monitors = _by_label(renderings, "prometheus-operator")
    assert _find(monitors, "ServiceMonitor", "gateway")["spec"]["endpoints"][0]["port"] == "internal"
    dashboards = [m for m in monitors if m["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
    assert len(dashboards) == len(list((REPO_ROOT / "deploy/grafana/dashboards").glob("*.json")))


def test_the_engine_takes_prompt_embeddings_wherever_entity_tokens_are_deployed_and_nowhere_else(
    renderings: list[Rendering],
) -> None:
    """The kubeflow-training component brings the entity tokens; its flag holds over the engine's command
    of any other component (gpu-engines replaces it)."""
    engines = 0
    for rendering in renderings:
        engine = [
            m for m in rendering.manifests if m["kind"] == "Deployment" and m["metadata"]["name"] == "vllm"
        ]
        for deployment in engine:
            engines += 1
            container = deployment["spec"]["template"]["spec"]["containers"][0]
            flags = container["command"] + container.get("args", [])
            deployed = "kubeflow-training" in rendering.label.split("+")
            assert (vllm_engine.PROMPT_EMBEDS_FLAG in flags) == deployed, rendering.label
    assert engines
    # Where production-stack removes the engine, the component's patch of it matches nothing and renders.
    assert any({"production-stack", "kubeflow-training"} <= set(r.label.split("+")) for r in renderings)


def _rule_allows(policy: Manifest, direction: str, peer: str, port: int | str) -> bool:
    key = "from" if direction == "ingress" else "to"
    for rule in policy["spec"].get(direction, []):
        ports = {p["port"] for p in rule.get("ports", [])}
        peers = rule.get(key)
        names = {p.get("podSelector", {}).get("matchLabels", {}).get(objects.NAME_LABEL) for p in peers or []}
        if port in ports and (peers is None or peer in names):
            return True
    return False


def test_network_policies_allow_what_the_registry_calls_and_nothing_else(renderings: list[Rendering]) -> None:
    manifests = _by_label(renderings, "network-policies")
    deny = _find(manifests, "NetworkPolicy", "default-deny")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    retrieval = _find(manifests, "NetworkPolicy", "retrieval")
    assert _rule_allows(retrieval, "ingress", "gateway", "grpc")
    assert _rule_allows(retrieval, "ingress", "nearline", "grpc")
    assert not _rule_allows(retrieval, "ingress", "judge", "grpc")
    gateway = _find(manifests, "NetworkPolicy", "gateway")
    assert _rule_allows(gateway, "ingress", "anyone", "http")  # the public face
    assert not _rule_allows(gateway, "ingress", "anyone", "internal")
    assert _rule_allows(gateway, "egress", "retrieval", 50051)
    assert not _rule_allows(gateway, "egress", "vllm", 8100)  # the gateway never calls the LLM
    assert _rule_allows(_find(manifests, "NetworkPolicy", "explain"), "egress", "vllm", 8100)


def test_combinations_leave_out_components_that_conflict() -> None:
    chosen = validate.combinations()
    names = [{c.name for c in subset} for subset in chosen]
    assert set() in names and {c.name for c in components.COMPONENTS} not in names
    assert not any({"gpu-engines", "production-stack"} <= subset for subset in names)


def test_the_artefact_stores_readers_and_train_jobs_reach_it_through_the_network_policies(
    renderings: list[Rendering],
) -> None:
    """The kubeflow-training component marks the pods that read the store; the network policies let the
    marked pods (and the TrainJobs' own) out to it, so that neither component breaks the other."""
    store = {objects.ARTEFACT_STORE_LABEL: objects.ARTEFACT_STORE_CLIENT}
    together = 0
    for rendering in renderings:
        parts = set(rendering.label.split("+"))
        deployments = [m for m in rendering.manifests if m["kind"] == "Deployment"]
        marked = {
            m["metadata"]["name"]
            for m in deployments
            if store.items() <= m["spec"]["template"]["metadata"].get("labels", {}).items()
        }
        assert marked == ({"retrieval", "intent", "tags"} if "kubeflow-training" in parts else set()), parts
        if "network-policies" not in parts:
            continue
        together += "kubeflow-training" in parts
        readers = _find(rendering.manifests, "NetworkPolicy", "artefact-store-readers")
        assert readers["spec"]["podSelector"] == {"matchLabels": store}
        assert readers["spec"]["policyTypes"] == ["Egress"]
        assert any(p["port"] == 443 for rule in readers["spec"]["egress"] for p in rule["ports"])
        jobs = _find(rendering.manifests, "NetworkPolicy", "train-jobs")
        selector = jobs["spec"]["podSelector"]
        assert selector["matchExpressions"][0]["key"] == objects.JOBSET_NAME_LABEL
        assert jobs["spec"]["ingress"] == [{"from": [{"podSelector": selector}]}]
    assert together
