"""A real Prometheus server (the Debian package's binary) scraping given /metrics URLs, and its HTTP API.

Used by the dashboard test: it scrapes the running platform and evaluates every dashboard query.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from recgpt_tools.redis_server import free_port


class PrometheusError(RuntimeError):
    """The server is missing, did not start, or answered an error."""


def binary() -> str:
    """The prometheus executable on PATH (Debian: `apt-get install prometheus`)."""
    found = shutil.which("prometheus")
    if found is None:
        raise PrometheusError("no prometheus on PATH: apt-get install prometheus (make test does)")
    return found


def scrape_config(metrics_urls: Mapping[str, str], interval_s: float) -> str:
    """A config with one job per process, named after it, scraping its /metrics URL."""
    lines = [
        "global:",
        f"  scrape_interval: {interval_s:g}s",
        f"  evaluation_interval: {interval_s:g}s",
        "scrape_configs:",
    ]
    for name, url in sorted(metrics_urls.items()):
        parts = urlsplit(url)
        lines += [
            f"  - job_name: {name}",
            f"    metrics_path: {parts.path or '/metrics'}",
            f"    scheme: {parts.scheme or 'http'}",
            "    static_configs:",
            f'      - targets: ["{parts.netloc}"]',
        ]
    return "\n".join(lines) + "\n"


@dataclass
class Series:
    labels: dict[str, str]
    values: list[float]

    @property
    def has_number(self) -> bool:
        return any(math.isfinite(value) for value in self.values)


class PrometheusServer:
    """Started with `start()`, stopped with `stop()`; `query_range` evaluates PromQL over the HTTP API."""

    def __init__(self, workdir: Path, metrics_urls: Mapping[str, str], interval_s: float = 1.0) -> None:
        self.workdir = workdir
        self.metrics_urls = dict(metrics_urls)
        self.interval_s = interval_s
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "prometheus.yml"
        config.write_text(scrape_config(self.metrics_urls, self.interval_s))
        log = (self.workdir / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [
                binary(),
                f"--config.file={config}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1d",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PrometheusError(f"prometheus exited with {self.process.returncode}: see {log.name}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise PrometheusError(f"prometheus not ready within {timeout_s:g} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _api(self, path: str, params: Mapping[str, str | float]) -> Any:
        response = httpx.get(f"{self.url}/api/v1/{path}", params=dict(params), timeout=30)
        body = response.json()
        if response.status_code != 200 or body.get("status") != "success":
            raise PrometheusError(f"{path} {dict(params)}: {body.get('error', response.text[:300])}")
        return body["data"]

    def query_range(self, expr: str, start: float, end: float, step_s: float) -> list[Series]:
        data = self._api("query_range", {"query": expr, "start": start, "end": end, "step": step_s})
        return [
            Series(dict(item["metric"]), [float(value) for _, value in item["values"]])
            for item in data["result"]
        ]

    def targets(self) -> dict[str, str]:
        """Each scrape job's health: up, down or unknown."""
        data = self._api("targets", {"state": "active"})
        return {target["labels"]["job"]: target["health"] for target in data["activeTargets"]}

    def metric_names(self) -> set[str]:
        return set(self._api("label/__name__/values", {}))
