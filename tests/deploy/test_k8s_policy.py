"""Each check of the rendered manifests fails on the object it is there to refuse."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from recgpt_tools import registry
from recgpt_tools.k8s import files as k8s_files
from recgpt_tools.k8s import objects, policy, validate, workloads
from recgpt_tools.k8s.objects import Manifest

PUBLIC = {"gateway-public"}


def _deployment(name: str = "retrieval") -> Manifest:
    return workloads.deployment(registry.by_name(name), registry.PROCESSES)


def _container(manifest: Manifest) -> Manifest:
    container: Manifest = manifest["spec"]["template"]["spec"]["containers"][0]
    return container


def test_the_generated_deployments_pass() -> None:
    for process in objects.deployed(registry.PROCESSES):
        assert policy.workload_problems(_deployment(process.name)) == [], process.name
    assert policy.workload_problems(workloads.prepare_job()) == []


def test_a_deployment_without_probes_is_refused() -> None:
    manifest = _deployment()
    del _container(manifest)["readinessProbe"]
    assert policy.workload_problems(manifest) == [
        "Deployment/retrieval container retrieval: no readinessProbe"
    ]


def test_only_a_process_that_serves_nothing_may_go_without_probes_and_must_say_so() -> None:
    restore = _deployment("restore")
    assert objects.NO_PROBES_ANNOTATION in restore["metadata"]["annotations"]
    assert "livenessProbe" not in _container(restore)
    del restore["metadata"]["annotations"]
    assert "no readinessProbe or livenessProbe" in policy.workload_problems(restore)[0]


def test_a_container_without_requests_or_memory_limit_is_refused() -> None:
    manifest = _deployment()
    del _container(manifest)["resources"]["limits"]
    del _container(manifest)["resources"]["requests"]["cpu"]
    assert policy.workload_problems(manifest) == [
        "Deployment/retrieval container retrieval: no requests.cpu, limits.memory"
    ]


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        (("spec", "template", "spec", "securityContext", "runAsNonRoot"), False, "may run as root"),
        (("securityContext", "allowPrivilegeEscalation"), True, "allowPrivilegeEscalation"),
        (("securityContext", "capabilities", "drop"), [], "capabilities not dropped"),
        (("securityContext", "readOnlyRootFilesystem"), False, "root filesystem writable"),
    ],
)
def test_a_privileged_container_is_refused(path: tuple[str, ...], value: object, problem: str) -> None:
    manifest = _deployment()
    target = manifest if path[0] == "spec" else _container(manifest)
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    (found,) = policy.workload_problems(manifest)
    assert problem in found


def test_a_job_needs_resources_and_an_unprivileged_container_but_no_probes() -> None:
    job = workloads.prepare_job()
    assert "readinessProbe" not in _container(job)
    del _container(job)["securityContext"]
    assert len(policy.workload_problems(job)) == 3


def test_an_init_container_needs_resources_and_an_unprivileged_container_but_no_probes() -> None:
    manifest = _deployment("intent")
    init: Manifest = {"name": "fetch", "image": objects.IMAGE, "command": ["true"]}
    manifest["spec"]["template"]["spec"]["initContainers"] = [init]
    assert policy.workload_problems(manifest) == [
        "Deployment/intent init container fetch: no requests.cpu, requests.memory, limits.memory",
        "Deployment/intent init container fetch: allowPrivilegeEscalation is not false",
        "Deployment/intent init container fetch: capabilities not dropped (drop: [ALL])",
        "Deployment/intent init container fetch: root filesystem writable (readOnlyRootFilesystem)",
    ]
    init["resources"] = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "128Mi"}}
    init["securityContext"] = workloads.container_security()
    assert policy.workload_problems(manifest) == []


def test_no_public_service_but_the_gateway_s() -> None:
    for service in workloads.services(registry.by_name("gateway")):
        assert policy.service_problems(service, PUBLIC) == []
    (retrieval, _headless) = workloads.services(registry.by_name("retrieval"))
    exposed = copy.deepcopy(retrieval)
    exposed["spec"]["type"] = "NodePort"
    assert policy.service_problems(exposed, PUBLIC) == [
        "Service/retrieval: NodePort Service, but only ['gateway-public'] may be public"
    ]
    exposed["spec"] = {**retrieval["spec"], "externalIPs": ["203.0.113.7"]}
    assert policy.service_problems(exposed, PUBLIC)


def test_a_registry_process_missing_from_the_manifests_is_named() -> None:
    present = [workloads.service_account("gateway"), _deployment("gateway")]
    assert policy.missing(present, {"gateway"}) == []
    assert policy.missing(present, {"gateway", "ranker"}) == [
        "Deployment/ranker missing",
        "ServiceAccount/ranker missing",
    ]
    # A process added to the registry is in the manifests without another table to edit.
    ranker = dataclasses.replace(registry.by_name("tags"), name="ranker", port=50056, metrics_port=9107)
    table = (*registry.PROCESSES, ranker)
    assert policy.workload_problems(workloads.deployment(ranker, table)) == []
    assert Path("deploy/k8s/base/ranker.yaml") in k8s_files.files(table)


def test_the_schema_check_refuses_an_unknown_field_and_a_wrong_type_as_kubernetes_validate_does() -> None:
    good = _deployment()
    assert validate.schema_problems(good) == []
    kubernetes_validate.validate(good, validate.SUPPORTED_VERSIONS[0], strict=True)
    unknown = copy.deepcopy(good)
    _container(unknown)["readinessProbes"] = _container(unknown).pop("readinessProbe")
    wrong = copy.deepcopy(good)
    wrong["spec"]["replicas"] = "two"
    for bad in (unknown, wrong):
        found = validate.schema_problems(bad)
        assert len(found) == len(validate.SUPPORTED_VERSIONS), found
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(bad, validate.SUPPORTED_VERSIONS[-1], strict=True)


def test_a_field_newer_than_the_oldest_supported_version_is_refused() -> None:
    """1.30 lacks what later versions add: a manifest using it fails for 1.30 only."""
    manifest = _deployment()
    # Pod-level resources arrived in 1.32's schema.
    manifest["spec"]["template"]["spec"]["resources"] = {"requests": {"cpu": "1"}}
    found = validate.schema_problems(manifest)
    assert found and all("Kubernetes 1.30" in p or "Kubernetes 1.31" in p for p in found), found


def test_custom_resources_are_checked_by_their_required_fields_and_unknown_kinds_are_refused() -> None:
    monitor = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "x"},
               "spec": {"selector": {}}}  # fmt: skip
    assert validate.schema_problems(monitor) == ["ServiceMonitor/x: spec lacks ['endpoints']"]
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert len(validate.schema_problems(unknown)) == len(validate.SUPPORTED_VERSIONS)


def test_an_object_a_component_adds_without_a_namespace_is_refused() -> None:
    budget: Manifest = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "tags"},
    }
    assert policy.namespace_problems(budget) == ["PodDisruptionBudget/tags: no namespace"]
    budget["metadata"]["namespace"] = objects.NAMESPACE
    assert policy.namespace_problems(budget) == []
    assert policy.namespace_problems({"kind": "Namespace", "metadata": {"name": objects.NAMESPACE}}) == []
