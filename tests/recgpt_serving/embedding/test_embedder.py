"""The embedding backends: OpenVINO computes torch's vectors, converts once, refuses what it cannot run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from recgpt_domain.embedder import Embedder
from recgpt_serving.embedding import onnx_export
from recgpt_serving.embedding.openvino import OpenVinoEmbedder
from recgpt_serving.embedding.runtime import (
    MODEL_NAME,
    EmbedderSettings,
    SentenceEmbedder,
    bundled_model_dir,
    load_bundled,
    load_openvino,
)

SERVICES = Path(__file__).resolve().parents[2] / "services"
# What tokenisation and pooling must get right: spaces around, nothing, more than 256 tokens, non-ASCII.
AWKWARD = ["  padded text  ", "", "word " * 400, "Ünïcödé ÇAFÉ naïve 日本語 🙂", "\ttab\nnewline "]


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("embedding-models")


@pytest.fixture(scope="session")
def openvino(models_dir: Path) -> Embedder:
    return load_bundled(16, "cpu", EmbedderSettings(backend="openvino", models_dir=models_dir))


@pytest.fixture(scope="session")
def reference() -> Embedder:
    return load_bundled(16, "cpu", EmbedderSettings(backend="torch"))


@pytest.fixture(scope="session")
def item_texts(amazon_dir: Path) -> list[str]:
    """Real item texts of every length: the first 40 lines of the Amazon catalogue and the longest one."""
    lines = (amazon_dir / "Scientific.text").read_text().splitlines()[1:]
    texts = [line.split("\t", 1)[1] for line in lines]
    return [*texts[:40], max(texts, key=len)]


def test_openvino_computes_the_reference_vectors(
    openvino: Embedder, reference: Embedder, item_texts: list[str]
) -> None:
    texts = [*item_texts, *AWKWARD]
    ours, theirs = openvino.encode(texts), reference.encode(texts)
    assert ours.shape == theirs.shape == (len(texts), 384)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosine = (ours * theirs).sum(axis=1)
    assert cosine.min() > 0.999, [texts[i][:40] for i in np.flatnonzero(cosine <= 0.999)]
    # Same vectors, so the same name: an index built with one backend serves queries of the other.
    assert openvino.model_name == reference.model_name == MODEL_NAME
    assert openvino.dimension == reference.dimension


def test_batching_and_order_do_not_change_a_vector(openvino: Embedder, item_texts: list[str]) -> None:
    together = openvino.encode(item_texts)
    alone = np.stack([openvino.encode([text])[0] for text in reversed(item_texts)])[::-1]
    assert (together * alone).sum(axis=1).min() > 0.9999
    assert openvino.encode([]).shape == (0, 384)


def test_threads_may_encode_at_once(openvino: Embedder, item_texts: list[str]) -> None:
    chunks = [item_texts[start::4] for start in range(4)]
    expected = [openvino.encode(chunk) for chunk in chunks]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(openvino.encode, chunks * 3))
    for got, want in zip(results, expected * 3, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_the_conversion_is_kept_and_reused(openvino: Embedder, models_dir: Path) -> None:
    (folder,) = models_dir.iterdir()  # converted once, no staging folder left behind
    assert folder.name.startswith("all-MiniLM-L6-v2-onnx-")
    description = json.loads((folder / onnx_export.DESCRIPTION_FILE).read_text())
    assert description["max_seq_length"] == 256
    assert description["dimension"] == 384
    converted_at = (folder / onnx_export.ONNX_FILE).stat().st_mtime_ns

    again = load_openvino(bundled_model_dir(), models_dir)
    assert (folder / onnx_export.ONNX_FILE).stat().st_mtime_ns == converted_at
    assert list(models_dir.iterdir()) == [folder]
    np.testing.assert_allclose(again.encode(["lab goggles"]), openvino.encode(["lab goggles"]), atol=1e-6)


def test_a_broken_conversion_is_converted_again(models_dir: Path, tmp_path: Path) -> None:
    (converted,) = models_dir.iterdir()
    broken = tmp_path / converted.name
    shutil.copytree(converted, broken)
    (broken / onnx_export.ONNX_FILE).write_bytes(b"not an onnx file")

    embedder = load_openvino(bundled_model_dir(), tmp_path)
    assert embedder.encode(["digital caliper"]).shape == (1, 384)
    assert (broken / onnx_export.ONNX_FILE).stat().st_size > 1_000_000


def test_a_model_it_cannot_pool_is_refused(tmp_path: Path) -> None:
    source = bundled_model_dir()
    model = tmp_path / "model"
    (model / "1_Pooling").mkdir(parents=True)
    for name in ("config.json", "sentence_bert_config.json"):
        shutil.copyfile(source / name, model / name)
    modules = json.loads((source / "modules.json").read_text())
    (model / "modules.json").write_text(json.dumps(modules))
    pooling = json.loads((source / "1_Pooling" / "config.json").read_text())
    (model / "1_Pooling" / "config.json").write_text(
        json.dumps({**pooling, "pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True})
    )
    with pytest.raises(onnx_export.ExportError, match="RECGPT_EMBEDDING_BACKEND=torch"):
        onnx_export.check_supported(model)

    (model / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    (model / "modules.json").write_text(json.dumps(modules[:2]))  # not normalised
    with pytest.raises(onnx_export.ExportError, match="not a mean-pooled, normalised"):
        onnx_export.check_supported(model)


def test_settings_choose_the_backend(monkeypatch: pytest.MonkeyPatch, models_dir: Path) -> None:
    monkeypatch.setenv("RECGPT_EMBEDDING_BACKEND", "torch")
    assert isinstance(load_bundled(device="cpu"), SentenceEmbedder)
    monkeypatch.setenv("RECGPT_EMBEDDING_BACKEND", "openvino")
    monkeypatch.setenv("RECGPT_EMBEDDING_MODELS_DIR", str(models_dir))
    assert isinstance(load_bundled(device="cpu"), OpenVinoEmbedder)
    monkeypatch.setenv("RECGPT_EMBEDDING_BACKEND", "onnx")
    with pytest.raises(ValidationError, match="backend"):
        EmbedderSettings()


def test_openvino_refuses_a_gpu_device(models_dir: Path) -> None:
    settings = EmbedderSettings(backend="openvino", models_dir=models_dir)
    with pytest.raises(ValueError, match="RECGPT_EMBEDDING_BACKEND=torch"):
        load_bundled(device="cuda", settings=settings)


def test_loading_openvino_writes_and_sends_no_telemetry(tmp_path: Path, models_dir: Path) -> None:
    """A plain `import openvino` writes ~/intel/openvino_ga_cid and sends a usage event; ours does neither."""
    script = (
        "from pathlib import Path\n"
        "from recgpt_serving.embedding.runtime import bundled_model_dir, load_openvino\n"
        f"load_openvino(bundled_model_dir(), Path({str(models_dir)!r})).encode(['glue'])\n"
        "from openvino_telemetry import Telemetry\n"
        "assert not Telemetry().consent\n"
    )
    env = {key: value for key, value in os.environ.items() if key not in ("CI", "TF_BUILD", "JENKINS_URL")}
    env.update({"HOME": str(tmp_path), "PYTHONPATH": str(SERVICES)})
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=300)
    assert not (tmp_path / "intel").exists()
