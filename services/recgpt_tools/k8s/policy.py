"""What every rendered manifest must hold beyond its schema: probes, resources and an unprivileged
container on every workload, no public Service but the platform's face, every process present.

Each check returns the problems it finds as sentences (empty: none), so that one run names them all.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from recgpt_tools.k8s import objects
from recgpt_tools.k8s.objects import Manifest

WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Job"})
# Kinds that answer requests and so must say when they can (probes); a Job runs to completion.
SERVING_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet"})
_EXPOSED_TYPES = frozenset({"LoadBalancer", "NodePort"})


def _name(manifest: Manifest) -> str:
    return f"{manifest.get('kind')}/{manifest.get('metadata', {}).get('name')}"


def _pod_spec(manifest: Manifest) -> Manifest:
    spec: Manifest = manifest.get("spec", {}).get("template", {}).get("spec", {})
    return spec


def _resources(where: str, container: Manifest) -> list[str]:
    found = container.get("resources", {})
    missing = [
        f"{part}.{resource}"
        for part, resource in (("requests", "cpu"), ("requests", "memory"), ("limits", "memory"))
        if resource not in found.get(part, {})
    ]
    return [f"{where}: no {', '.join(missing)}"] if missing else []


def _security(where: str, pod: Manifest, container: Manifest) -> list[str]:
    pod_context, context = pod.get("securityContext", {}), container.get("securityContext", {})
    problems = []
    if not context.get("runAsNonRoot", pod_context.get("runAsNonRoot", False)):
        problems.append(f"{where}: may run as root (runAsNonRoot)")
    if context.get("allowPrivilegeEscalation", True):
        problems.append(f"{where}: allowPrivilegeEscalation is not false")
    if "ALL" not in context.get("capabilities", {}).get("drop", []):
        problems.append(f"{where}: capabilities not dropped (drop: [ALL])")
    if not context.get("readOnlyRootFilesystem", False):
        problems.append(f"{where}: root filesystem writable (readOnlyRootFilesystem)")
    return problems


def _probes(where: str, manifest: Manifest, container: Manifest) -> list[str]:
    if objects.NO_PROBES_ANNOTATION in manifest.get("metadata", {}).get("annotations", {}):
        return []
    missing = [probe for probe in ("readinessProbe", "livenessProbe") if probe not in container]
    return [f"{where}: no {' or '.join(missing)}"] if missing else []


def workload_problems(manifest: Manifest) -> list[str]:
    """A workload's containers, init containers too: resources and a non-root read-only unprivileged
    container; probes where it serves (unless annotated as serving nothing to probe), but not on an init
    container, which runs to completion; a grace period where it stops gracefully."""
    if manifest.get("kind") not in WORKLOAD_KINDS:
        return []
    pod = _pod_spec(manifest)
    containers: list[Manifest] = pod.get("containers", [])
    if not containers:
        return [f"{_name(manifest)}: no containers"]
    problems = []
    for container in pod.get("initContainers", []):
        where = f"{_name(manifest)} init container {container.get('name')}"
        problems += _resources(where, container) + _security(where, pod, container)
    for container in containers:
        where = f"{_name(manifest)} container {container.get('name')}"
        problems += _resources(where, container)
        problems += _security(where, pod, container)
        if manifest["kind"] in SERVING_KINDS:
            problems += _probes(where, manifest, container)
    if manifest["kind"] in SERVING_KINDS and "terminationGracePeriodSeconds" not in pod:
        problems.append(f"{_name(manifest)}: no terminationGracePeriodSeconds")
    return problems


def service_problems(manifest: Manifest, public: Collection[str]) -> list[str]:
    """A Service reachable from outside the cluster must be one of `public`."""
    if manifest.get("kind") != "Service":
        return []
    spec = manifest.get("spec", {})
    exposed = spec.get("type") in _EXPOSED_TYPES or spec.get("externalIPs")
    name = manifest.get("metadata", {}).get("name")
    if exposed and name not in public:
        return [f"{_name(manifest)}: {spec.get('type')} Service, but only {sorted(public)} may be public"]
    return []


def missing(manifests: Iterable[Manifest], expected: Collection[str]) -> list[str]:
    """Processes of `expected` without their Deployment or ServiceAccount."""
    present = {(m.get("kind"), m.get("metadata", {}).get("name")) for m in manifests}
    return [
        f"{kind}/{name} missing"
        for name in sorted(expected)
        for kind in ("Deployment", "ServiceAccount")
        if (kind, name) not in present
    ]


# Objects that belong to no namespace.
CLUSTER_KINDS = frozenset({"Namespace", "ClusterRole", "ClusterRoleBinding", "ClusterTrainingRuntime"})


def namespace_problems(manifest: Manifest) -> list[str]:
    """A namespaced object without a namespace lands in whatever namespace kubectl's context names: the
    base's `namespace:` does not reach the objects a component adds."""
    if manifest.get("kind") in CLUSTER_KINDS or manifest.get("metadata", {}).get("namespace"):
        return []
    return [f"{_name(manifest)}: no namespace"]


def problems(manifests: list[Manifest], expected: Collection[str], public: Collection[str]) -> list[str]:
    """Every problem of one rendering."""
    found = missing(manifests, expected)
    for manifest in manifests:
        found += (
            workload_problems(manifest) + service_problems(manifest, public) + namespace_problems(manifest)
        )
    return found
