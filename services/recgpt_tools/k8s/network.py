"""Network policies from the registry: nothing moves but DNS, what each process's `targets` call, Redis for
its users, the engine for the LLM callers, Prometheus on the metrics ports and the world on the public one;
the artefact store for the pods the kubeflow-training component marks as its readers, and its TrainJobs'
pods to each other (torchrun's rendezvous and collectives) and to the store."""

from __future__ import annotations

from collections.abc import Sequence

from recgpt_tools import container_layout, deploy_secrets
from recgpt_tools.k8s import objects, workloads
from recgpt_tools.k8s.objects import Manifest
from recgpt_tools.registry import ConsoleScript, Engine, Process, Starts

# A managed Redis answers on a private address of the cluster's network, plain or TLS.
_PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
_MANAGED_REDIS_PORTS = (6379, 6380)
# The production-stack router's container port, in its own namespace.
_ROUTER_PORT = 8000
_NAMESPACE_NAME = "kubernetes.io/metadata.name"
# Object stores answer HTTPS, on the internet (S3, GCS, Azure Blob) or inside the network; MinIO and the
# like on 9000 at a private address.
_OBJECT_STORE_HTTPS = 443
_PRIVATE_OBJECT_STORE_PORT = 9000
_KUBE_DNS = {"k8s-app": "kube-dns"}


def _pods(*names: str) -> list[Manifest]:
    return [{"podSelector": {"matchLabels": objects.selector(name)}} for name in names]


def _namespace(name: str) -> Manifest:
    return {"namespaceSelector": {"matchLabels": {_NAMESPACE_NAME: name}}}


def _tcp(*ports: int | str) -> list[Manifest]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def _policy(name: str, pod: str, ingress: list[Manifest], egress: list[Manifest]) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": objects.metadata(name, namespace=objects.NAMESPACE),
        "spec": {
            "podSelector": {"matchLabels": objects.selector(pod)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": egress,
        },
    }


def _calls_llm(process: Process) -> bool:
    return isinstance(process.command, ConsoleScript) and process.starts is Starts.WITH_LLM


def _callers(process: Process, table: Sequence[Process]) -> list[str]:
    """Who connects to its main port: those that target it; the LLM callers for the engine; every Redis
    user (and the import Job) for Redis."""
    if process.command is Engine.VLLM:
        return [p.name for p in table if _calls_llm(p)]
    if process.command is Engine.REDIS:
        return [objects.PREPARE_JOB, *(p.name for p in table if deploy_secrets.redis_user(p) is not None)]
    return [p.name for p in table if process.name in p.targets]


def _ingress(process: Process, table: Sequence[Process]) -> list[Manifest]:
    rules: list[Manifest] = []
    main = objects.main_port_name(process)
    if process.port is not None:
        callers = _callers(process, table)
        if process.public:
            rules.append({"ports": _tcp(main)})  # from anywhere: the platform's face
        elif callers:
            rules.append({"from": _pods(*callers), "ports": _tcp(main)})
    scrape = objects.scrape_port_name(process)
    if scrape is not None:
        rules.append({"from": [_namespace(objects.MONITORING_NAMESPACE)], "ports": _tcp(scrape)})
    return rules


def redis_egress() -> list[Manifest]:
    """To the in-cluster Redis, or a managed one on the cluster's private network."""
    return [
        {"to": _pods("redis"), "ports": _tcp(container_layout.REDIS_PORT)},
        {
            "to": [{"ipBlock": {"cidr": cidr}} for cidr in _PRIVATE_RANGES],
            "ports": _tcp(*_MANAGED_REDIS_PORTS),
        },
    ]


def _egress(process: Process, table: Sequence[Process]) -> list[Manifest]:
    rules: list[Manifest] = []
    for name in process.targets:
        target = next(p for p in table if p.name == name)
        rules.append({"to": _pods(name), "ports": _tcp(workloads.ports(target)[0]["containerPort"])})
    if deploy_secrets.redis_user(process) is not None:
        rules += redis_egress()
    if _calls_llm(process):
        engine = next(p for p in table if p.command is Engine.VLLM)
        assert engine.port is not None
        rules.append({"to": _pods(engine.name), "ports": _tcp(engine.port)})
        rules.append({"to": [_namespace(objects.PRODUCTION_STACK_NAMESPACE)], "ports": _tcp(_ROUTER_PORT)})
    return rules


def _labelled_policy(name: str, selector: Manifest, spec: Manifest) -> Manifest:
    """A policy of the platform's selecting pods by `selector` (not by one process's name)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": objects.NAMESPACE,
            "labels": {objects.PART_OF_LABEL: "recgpt"},
        },
        "spec": {"podSelector": selector, **spec},
    }


def _default_deny() -> Manifest:
    return _labelled_policy("default-deny", {}, {"policyTypes": ["Ingress", "Egress"]})


def _dns() -> Manifest:
    return _labelled_policy(
        "allow-dns",
        {},
        {
            "policyTypes": ["Egress"],
            "egress": [{
                "to": [{**_namespace("kube-system"), "podSelector": {"matchLabels": _KUBE_DNS}}],
                "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
            }],
        },
    )  # fmt: skip


def _artefact_store_egress() -> list[Manifest]:
    return [
        {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": _tcp(_OBJECT_STORE_HTTPS)},
        {
            "to": [{"ipBlock": {"cidr": cidr}} for cidr in _PRIVATE_RANGES],
            "ports": _tcp(_PRIVATE_OBJECT_STORE_PORT),
        },
    ]


def _artefact_store_readers() -> Manifest:
    """Egress to the store for the pods marked as its readers; without the kubeflow-training component
    no pod is, and the policy selects nothing."""
    selector = {"matchLabels": {objects.ARTEFACT_STORE_LABEL: objects.ARTEFACT_STORE_CLIENT}}
    return _labelled_policy(
        "artefact-store-readers", selector, {"policyTypes": ["Egress"], "egress": _artefact_store_egress()}
    )


def _train_jobs() -> Manifest:
    """A TrainJob's pods (JobSet labels each with its name) reach each other on any port and the store."""
    selector = {"matchExpressions": [{"key": objects.JOBSET_NAME_LABEL, "operator": "Exists"}]}
    return _labelled_policy(
        "train-jobs",
        selector,
        {
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"podSelector": selector}]}],
            "egress": [{"to": [{"podSelector": selector}]}, *_artefact_store_egress()],
        },
    )


def policies(table: Sequence[Process]) -> list[Manifest]:
    made = [_default_deny(), _dns()]
    made += [_policy(p.name, p.name, _ingress(p, table), _egress(p, table)) for p in table]
    made.append(_policy(objects.PREPARE_JOB, objects.PREPARE_JOB, [], redis_egress()))
    made += [_artefact_store_readers(), _train_jobs()]
    return made
