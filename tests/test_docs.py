"""The front door: the README as a short guide, the mkdocs site built with --strict, the dated results.

Each checker here is first shown to catch what it forbids, so that a passing run means something.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from fastapi.routing import APIRoute
from pydantic import BaseModel

from experiments.events import parse_batch
from recgpt_tools import openapi_doc

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
RESULTS = DOCS / "results"
OPENAPI = DOCS / "api" / "openapi.json"
README_MAX_LINES = 150

# An issue or pull-request number, or the notes kept beside one: a reader of the product sees neither.
ISSUE_REFERENCE = re.compile(r"\b(?:issue|pull request|PR)\s*#?\d+|\bissue notes?\b|(?<![\w/&])#\d+\b", re.I)
# [text](target) and ![alt](target); the target ends at whitespace or the closing parenthesis.
MARKDOWN_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
MAKE_TARGET = re.compile(r"^([a-zA-Z0-9_-]+):", re.M)
CURL_BODY = re.compile(r"-d '(\{.*\})'")


def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def code_of(text: str) -> list[str]:
    """The fenced blocks' lines and inline code spans: where a command is written."""
    blocks = [line for block in FENCE.findall(text) for line in block.splitlines()[1:-1]]
    return blocks + INLINE_CODE.findall(FENCE.sub("", text))


def make_targets_named(text: str) -> set[str]:
    """Targets of every `make ...` command in the code of a Markdown text (variables and options skipped)."""
    targets: set[str] = set()
    for code in code_of(text):
        for match in re.finditer(r"(?:^|[\s;&|(])make\s+(.*)", code):
            rest = re.split(r"\s#|&&|;|\|", match[1])[0]
            try:
                words = shlex.split(rest)
            except ValueError:
                words = rest.split()
            for word in words:
                if "=" in word or word.startswith("-"):
                    continue
                if not re.fullmatch(r"[a-z][a-z0-9-]*", word):
                    break
                targets.add(word)
    return targets


def broken_links(path: Path, text: str) -> list[str]:
    """Relative link targets in `text` (a file at `path`) that name no file or folder of the repository."""
    broken = []
    for target in MARKDOWN_LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        relative = target.split("#", 1)[0]
        if not (path.parent / relative).exists():
            broken.append(target)
    return broken


def nav_pages(nav: list[Any]) -> Iterator[str]:
    for entry in nav:
        if isinstance(entry, str):
            yield entry
        elif isinstance(entry, dict):
            for value in entry.values():
                yield from nav_pages(value) if isinstance(value, list) else iter([value])


def page_html(site: Path, page: str) -> Path:
    """Where mkdocs (directory URLs) writes a page: index.md → index.html, a/b.md → a/b/index.html."""
    stem = page.removesuffix(".md")
    if stem == "index" or stem.endswith("/index"):
        return site / f"{stem}.html"
    return site / stem / "index.html"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, f"mkdocs build --strict failed (`make docs` shows why):\n{build.stderr}"
    return out


def test_the_checks_catch_what_they_forbid(tmp_path: Path) -> None:
    for text in ("see issue 10", "Issue #7 says", "the issue note has the commands", "fixed in #12", "PR 3"):
        assert ISSUE_REFERENCE.search(text), text
    for text in ("an issue of the model", "AT&#39;s", "docs/api.md#op-get-healthz", "C# 12"):
        assert not ISSUE_REFERENCE.search(text), text
    (tmp_path / "there.md").write_text("x")
    page = tmp_path / "page.md"
    links = (
        "[a](there.md) [b](there.md#part) [c](gone.md) [d](https://example.org/x) [e](#local) ![f](gone.png)"
    )
    assert broken_links(page, links) == ["gone.md", "gone.png"]
    named = (
        "Run `make eval USERS=200`, then\n```bash\nRECGPT_X=1 make run  # comment\nmake -j2 stop clean\n```"
    )
    assert make_targets_named(named) == {"eval", "run", "stop", "clean"}
    assert make_targets_named("make sure of it, `python -m x`") == set()


def test_readme_is_a_short_guide() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines: move detail into docs/"


@pytest.mark.parametrize("path", markdown_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_no_issue_numbers(path: Path) -> None:
    found = [m[0] for m in ISSUE_REFERENCE.finditer(path.read_text(encoding="utf-8"))]
    assert not found, f"{path.relative_to(ROOT)} names {found}: the product never names an issue"


@pytest.mark.parametrize("path", markdown_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_resolves(path: Path) -> None:
    assert not broken_links(path, path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", markdown_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_make_target_named_exists(path: Path) -> None:
    defined = set(MAKE_TARGET.findall((ROOT / "Makefile").read_text(encoding="utf-8")))
    named = make_targets_named(path.read_text(encoding="utf-8"))
    assert named - defined == set(), f"{path.relative_to(ROOT)} names targets the Makefile lacks"


def test_readme_diagram_names_every_public_endpoint() -> None:
    readme = README.read_text(encoding="utf-8")
    paths = json.loads(OPENAPI.read_text(encoding="utf-8"))["paths"]
    assert [path for path in paths if path not in readme] == []
    for unlisted in ("/metrics", "/docs", "/openapi.json"):
        assert unlisted in readme


def test_readme_requests_are_valid_for_the_gateway() -> None:
    """The curl lines' bodies are what the routes accept, for the demo user and item that ship in data/."""
    app = openapi_doc.create_gateway_app().public
    routes = {
        (method, route.path): route
        for route in app.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    curls = [line for line in README.read_text(encoding="utf-8").splitlines() if line.startswith("curl ")]
    assert len(curls) >= 3
    for line in curls:
        words = shlex.split(line)
        method = words[words.index("-X") + 1] if "-X" in words else "GET"
        url = next(word for word in words if word.startswith("localhost:"))
        path = "/" + url.split("/", 1)[1].split("?")[0]
        route = routes[(method, path)]
        body = CURL_BODY.search(line)
        if body is None:
            continue
        payload = json.loads(body[1])
        assert route.body_field is not None
        model = route.body_field.field_info.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        model.model_validate(payload)
        if path == "/v1/events":
            _, rejected = parse_batch(payload["events"])
            assert rejected == []
    users = (ROOT / "data" / "amazon-scientific" / "Scientific.user2index").read_text(encoding="utf-8")
    items = (ROOT / "data" / "amazon-scientific" / "Scientific.item2index").read_text(encoding="utf-8")
    assert "ABW8NXS7SV55K\t" in users and "B00TNNWMXI\t" in items


def operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [op for item in spec["paths"].values() for op in item.values() if isinstance(op, dict)]


def _without_repeated_operation_ids(spec: dict[str, Any]) -> dict[str, Any]:
    """The document with each operation id that two operations share blanked: which one wins is chance."""
    counts = Counter(op.get("operationId") for op in operations(spec))
    repeated = {key for key, count in counts.items() if count > 1}
    for operation in operations(spec):
        if operation.get("operationId") in repeated:
            operation["operationId"] = "(repeated)"
    return spec


@pytest.mark.parametrize("listener", ["public", "internal"])
def test_committed_openapi_documents_are_the_gateways(listener: openapi_doc.Listener) -> None:
    path = DOCS / "api" / openapi_doc.DOCUMENTS[listener]
    committed = json.loads(path.read_text(encoding="utf-8"))
    fresh = json.loads(openapi_doc.dumps(openapi_doc.gateway_spec(listener)))
    assert _without_repeated_operation_ids(committed) == _without_repeated_operation_ids(fresh), (
        f"{path.relative_to(ROOT)} is stale: run `python -m recgpt_tools.openapi_doc`"
    )


@pytest.mark.parametrize("listener", ["public", "internal"])
def test_operation_ids_are_unique(listener: openapi_doc.Listener) -> None:
    ids = [op["operationId"] for op in operations(openapi_doc.gateway_spec(listener))]
    assert len(ids) == len(set(ids))


def test_every_nav_page_is_built(site: Path) -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    pages = list(nav_pages(config["nav"]))
    assert {"index.md", "api.md", "results/index.md"} <= set(pages)
    missing = [page for page in pages if not page_html(site, page).is_file()]
    assert missing == []


def test_api_page_renders_every_operation_and_schema(site: Path) -> None:
    html = page_html(site, "api.md").read_text(encoding="utf-8")
    spec = json.loads(OPENAPI.read_text(encoding="utf-8"))
    assert "<!-- openapi:" not in html
    for path in spec["paths"]:
        assert f"<code>{path}</code>" in html, path
    for name in spec["components"]["schemas"]:
        assert f'id="schema-{name.lower()}"' in html, name
    assert (site / "api" / "openapi.json").is_file()


def test_every_results_page_names_date_commit_machine_and_command() -> None:
    index = (RESULTS / "index.md").read_text(encoding="utf-8")
    pages = sorted(path for path in RESULTS.glob("*.md") if path.name != "index.md")
    assert pages
    for page in pages:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}-[a-z0-9-]+\.md", page.name), page.name
        text = page.read_text(encoding="utf-8")
        assert f"**Date**: {page.name[:10]}" in text, page.name
        for field in ("**Commit", "**Machine**", "**Command"):
            assert field in text, f"{page.name} lacks {field}"
        assert f"]({page.name})" in index, f"results/index.md does not list {page.name}"
    dates = re.findall(r"\]\((\d{4}-\d{2}-\d{2})-[^)]+\.md\)", index)
    assert dates == sorted(dates, reverse=True), "results/index.md lists its pages newest first"
