"""Renders the base, every combination of components that do not conflict, and the overlay with
`kubectl kustomize`, and checks every object: the Kubernetes schema of each supported version (strictly:
an unknown field fails) and the platform's policy (recgpt_tools.k8s.policy).

    python -m recgpt_tools.k8s.validate      # make k8s-validate: prints what it checked and how long it took

Run it from the repository root; the files checked are the ones on disk (`make deploy-files` writes them).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import yaml  # type: ignore[import-untyped]
from referencing import Registry, Resource

from recgpt_tools import registry
from recgpt_tools.k8s import components, files, objects, policy
from recgpt_tools.k8s.components import Component
from recgpt_tools.k8s.objects import Manifest

# The Kubernetes minor versions the manifests are written for: the preStop sleep action is on by default
# from 1.30 (beta), gRPC probes from 1.27; kubernetes-validate ships schemas up to 1.37.
SUPPORTED_VERSIONS = ("1.30", "1.31", "1.32", "1.33", "1.34", "1.35")
# Objects of custom resources, whose schemas ship with their operators: checked by their required fields.
CUSTOM_KINDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ("selector", "endpoints"),
    ("keda.sh/v1alpha1", "ScaledObject"): ("scaleTargetRef", "triggers"),
    ("ray.io/v1", "RayJob"): ("entrypoint", "rayClusterSpec"),
    ("trainer.kubeflow.org/v1alpha1", "TrainJob"): ("runtimeRef", "trainer"),
}
# kubectl's own kustomize: a render is one process, a few tenths of a second.
_RENDER_WORKERS = 2


@dataclass(frozen=True)
class Rendering:
    """What was rendered (the base, a set of components, an overlay) and the objects it made."""

    label: str
    manifests: list[Manifest]
    removed: frozenset[str] = field(default_factory=frozenset)


def combinations(available: Sequence[Component] = components.COMPONENTS) -> list[tuple[Component, ...]]:
    """Every subset of the platform's components that do not conflict, in their declared order (the empty
    one too); then each add-on with the base alone, and all add-ons with each largest compatible set (one
    per way of running the engine: gpu-engines or production-stack, whose patches of it the add-ons meet)."""
    platform = [component for component in available if not component.add_on]
    add_ons = tuple(component for component in available if component.add_on)
    subsets = itertools.chain.from_iterable(
        itertools.combinations(platform, size) for size in range(len(platform) + 1)
    )
    chosen = [subset for subset in subsets if components.compatible(subset)]
    if add_ons:
        most = max(len(subset) for subset in chosen)
        largest = [subset for subset in chosen if len(subset) == most]
        chosen += [(add_on,) for add_on in add_ons] + [(*subset, *add_ons) for subset in largest]
    return chosen


def kustomize(directory: Path) -> list[Manifest]:
    """`kubectl kustomize DIRECTORY`, parsed."""
    result = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {directory} failed: {result.stderr.strip()}")
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def _combination_dir(root: Path, chosen: Sequence[Component], scratch: Path) -> Path:
    """A kustomization of the base with `chosen`, written under `scratch`."""
    directory = scratch / ("+".join(component.name for component in chosen) or "base")
    directory.mkdir()
    base = root.resolve() / files.BASE_DIR
    folders = [root.resolve() / files.COMPONENTS_DIR / component.name for component in chosen]
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(base, directory)],
        "components": [os.path.relpath(folder, directory) for folder in folders],
    }
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return directory


def render_all(root: Path) -> list[Rendering]:
    """The base with every compatible set of components, and the example overlay."""
    chosen_sets = combinations()
    overlay = tuple(components.by_name(name) for name in files.PRODUCTION_COMPONENTS)
    with tempfile.TemporaryDirectory(prefix="recgpt-k8s-") as scratch:
        directories = [_combination_dir(root, chosen, Path(scratch)) for chosen in chosen_sets]
        with ThreadPoolExecutor(_RENDER_WORKERS) as pool:
            rendered = list(pool.map(kustomize, [*directories, root / files.OVERLAY_DIR]))
    labels = ["+".join(c.name for c in chosen) or "base" for chosen in chosen_sets] + ["overlay production"]
    removed = [_removed(chosen) for chosen in [*chosen_sets, overlay]]
    return [Rendering(*parts) for parts in zip(labels, rendered, removed, strict=True)]


def _removed(chosen: Iterable[Component]) -> frozenset[str]:
    return frozenset().union(*(component.removes for component in chosen))


@functools.cache
def schema_validator(version: str, api_version: str, kind: str) -> Any:
    """kubernetes-validate's strict schema of `kind` for Kubernetes `version`, loaded once: its own
    `validate` reads the 1.3 MB definitions again on every call (25 ms an object; 2 ms this way).
    FileNotFoundError: the version has no such kind."""
    folder = resources.files("kubernetes_validate") / "kubernetes-json-schema" / f"v{version}.0-local-strict"
    # As kubernetes-validate names its files: rbac.authorization.k8s.io/v1 -> rbac-v1.
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = json.loads((folder / f"{kind.lower()}-{group}.json").read_text())
    definitions = json.loads((folder / "_definitions.json").read_text())
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


def schema_problems(manifest: Manifest, versions: Sequence[str] = SUPPORTED_VERSIONS) -> list[str]:
    """The object against each version's schema, strictly; a custom resource by its required fields."""
    kind, api_version = manifest.get("kind", ""), manifest.get("apiVersion", "")
    name = f"{kind}/{manifest.get('metadata', {}).get('name')}"
    required = CUSTOM_KINDS.get((api_version, kind))
    if required is not None:
        absent = [key for key in required if key not in manifest.get("spec", {})]
        return [f"{name}: spec lacks {absent}"] if absent else []
    problems = []
    for version in versions:
        try:
            validator = schema_validator(version, api_version, kind)
        except FileNotFoundError:
            problems.append(f"{name}: no schema for {api_version} {kind} in Kubernetes {version}")
            continue
        for error in validator.iter_errors(manifest):
            path = "/".join(str(part) for part in error.absolute_path)
            problems.append(f"{name} (Kubernetes {version}) at {path}: {error.message}")
    return problems


@dataclass
class Report:
    renderings: int = 0
    objects: int = 0
    distinct: int = 0
    problems: list[str] = field(default_factory=list)
    render_s: float = 0.0
    validate_s: float = 0.0


def check(root: Path) -> Report:
    """Renders everything and checks every distinct object once (most recur across combinations)."""
    report = Report()
    started = time.perf_counter()
    renderings = render_all(root)
    report.render_s = time.perf_counter() - started
    started = time.perf_counter()
    deployed = {process.name for process in objects.deployed(registry.PROCESSES)}
    public = {objects.public_service(p) for p in registry.PROCESSES if p.public}
    seen: set[str] = set()
    for rendering in renderings:
        report.renderings += 1
        report.objects += len(rendering.manifests)
        expected = deployed - rendering.removed
        report.problems += [
            f"{rendering.label}: {problem}"
            for problem in policy.problems(rendering.manifests, expected, public)
        ]
        for manifest in rendering.manifests:
            key = json.dumps(manifest, sort_keys=True)
            if key not in seen:
                seen.add(key)
                report.problems += [f"{rendering.label}: {p}" for p in schema_problems(manifest)]
    report.distinct = len(seen)
    report.validate_s = time.perf_counter() - started
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recgpt_tools.k8s.validate", description=__doc__)
    parser.add_argument("--root", type=Path, default=Path(), help="the repository root (default: here)")
    args = parser.parse_args(argv)
    report = check(args.root)
    sys.stderr.writelines(f"{problem}\n" for problem in report.problems)
    sys.stdout.write(
        f"{report.renderings} renderings, {report.objects} objects ({report.distinct} distinct) checked "
        f"against Kubernetes {SUPPORTED_VERSIONS[0]}-{SUPPORTED_VERSIONS[-1]} and the policy: "
        f"{len(report.problems)} problems; render {report.render_s:.1f} s, "
        f"validate {report.validate_s:.1f} s\n"
    )
    return 1 if report.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
