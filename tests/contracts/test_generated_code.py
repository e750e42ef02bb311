"""The generated gRPC code in services/recgpt must be what `make protos` makes from protos/ now."""

from __future__ import annotations

import filecmp
from pathlib import Path

from grpc_tools import protoc

REPO_ROOT = Path(__file__).resolve().parents[2]

PROTOS = REPO_ROOT / "protos"
GENERATED = REPO_ROOT / "services"


def _proto_files() -> list[str]:
    return sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))


def _generated_files(root: Path) -> set[str]:
    return {
        str(p.relative_to(root))
        for p in (root / "recgpt").rglob("*")
        if p.is_file() and p.name.endswith(("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"))
    }


def test_every_service_has_a_versioned_contract() -> None:
    services = {Path(p).parts[1] for p in _proto_files()}
    assert {"intent", "tags", "retrieval", "explain", "judge"} <= services
    assert all(Path(p).parts[2] == "v1" for p in _proto_files())


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    args = [
        "grpc_tools.protoc",
        f"-I{PROTOS}",
        f"--python_out={tmp_path}",
        f"--grpc_python_out={tmp_path}",
        f"--pyi_out={tmp_path}",
        *_proto_files(),
    ]
    assert protoc.main(args) == 0
    fresh = _generated_files(tmp_path)
    committed = _generated_files(GENERATED)
    assert fresh == committed, "generated files differ in name: run `make protos`"
    stale = [
        name for name in sorted(fresh) if not filecmp.cmp(tmp_path / name, GENERATED / name, shallow=False)
    ]
    assert not stale, f"stale generated code, run `make protos`: {stale}"
