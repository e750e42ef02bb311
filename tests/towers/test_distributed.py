"""Data-parallel training: torchrun runs two CPU processes (gloo) for a few steps; one artefact."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from recgpt_domain.towers import artefact
from tests.towers.fixtures import HashEmbedder, small_amazon
from towers import data
from towers.train_cli import text_inputs

SERVICES = Path(__file__).resolve().parents[2] / "services"


def test_two_cpu_processes_train_together(tmp_path: Path) -> None:
    dataset = small_amazon(tmp_path / "small")
    cache = tmp_path / "text-cache"
    # The text vectors are cached beforehand, so the processes never load the embedding model.
    text_inputs(data.build(dataset, 0.1), HashEmbedder(), cache)
    models = tmp_path / "models"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        "-m", "towers.train_cli", str(dataset), "--models-dir", str(models), "--cache-dir", str(cache),
        "--max-epochs", "2", "--max-steps-per-epoch", "2", "--dim", "16", "--threads", "1", "--no-fusion",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(SERVICES), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    folder = artefact.latest(models)
    assert folder is not None
    manifest = artefact.read_manifest(folder)
    assert manifest.training["processes"] == 2
    assert len(list(models.glob(f"{artefact.PREFIX}*"))) == 1  # only the first process wrote
