"""The launcher refuses busy ports up front and leaves nothing running when start-up fails."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from recgpt_tools import processes
from recgpt_tools.stack import Stack, StackError, StackSettings
from tests.running_platform import free_stack_ports


def _settings(tmp_path: Path, **overrides: object) -> StackSettings:
    values: dict[str, object] = {
        "var_dir": tmp_path / "var",
        "dataset": tmp_path / "no-such-dataset",
        "llm": False,
        **free_stack_ports(),
        **overrides,
    }
    return StackSettings.model_validate(values)


def test_a_busy_port_is_named_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        stack = Stack(_settings(tmp_path, gateway_port=busy))
        with pytest.raises(StackError, match=f"gateway \\({busy}\\)"):
            stack.up()
    assert processes.recorded(stack.paths.run) == []


def test_a_failed_step_stops_what_was_already_started(tmp_path: Path) -> None:
    stack = Stack(_settings(tmp_path, redis_url=None))
    with pytest.raises(StackError, match="importing"):
        stack.up()
    # The local Redis had started before the import failed; it must be gone again.
    assert (stack.paths.logs / "redis.log").exists()
    assert processes.recorded(stack.paths.run) == []
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", stack.settings.local_redis_port), timeout=0.5).close()


def test_a_dead_process_of_an_earlier_start_is_reported(tmp_path: Path) -> None:
    stack = Stack(_settings(tmp_path))
    started = processes.start("retrieval", ["true"], {}, stack.paths.run, stack.paths.logs)
    deadline = time.monotonic() + 5
    while processes.alive(started) and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(StackError, match="retrieval of an earlier start no longer running"):
        stack.up()
    stack.down()
    assert processes.recorded(stack.paths.run) == []


def test_each_model_is_served_under_a_name_of_its_own(tmp_path: Path) -> None:
    """Caches and provenance are keyed by the served name: another model must not reuse SmolLM2's."""
    assert Stack(_settings(tmp_path)).served_model_name == "smollm2-135m-instruct"
    other = Stack(_settings(tmp_path, llm_model="Qwen/Qwen2.5-7B-Instruct"))
    assert other.served_model_name == "qwen2.5-7b-instruct"
    assert Stack(_settings(tmp_path, llm_model="/models/Llama-3.1-8B/")).served_model_name == "llama-3.1-8b"
