"""The gateway's OpenAPI documents for the docs site: written from the app factory, rendered as Markdown.

`python -m recgpt_tools.openapi_doc` writes docs/api/openapi.json (the callers' listener) and
docs/api/openapi-internal.json (the operators') from `gateway.app.create_app` (the app is made, never
started); `--check` fails when a committed file differs, as tests/test_docs.py does.
mkdocs.yml loads this module as a hook: a page line `<!-- openapi: api/openapi.json -->` becomes the
endpoints and schemas of that file, so the site builds offline, from the committed document only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from gateway.app import Gateway

Listener = Literal["public", "internal"]
DOCUMENTS: dict[Listener, str] = {"public": "openapi.json", "internal": "openapi-internal.json"}
DEFAULT_DIR = Path("docs/api")
MARKER = re.compile(r"^<!-- openapi: (?P<path>\S+) -->$", re.MULTILINE)
METHODS = ("get", "put", "post", "delete", "patch")

Schema = Mapping[str, Any]


def create_gateway_app() -> Gateway:
    """The gateway app, made and never started: its settings point at nothing."""
    # Imported here: the docs build loads this module as a hook and reads only the committed document.
    from gateway.app import create_app
    from gateway.settings import GatewaySettings

    settings = GatewaySettings(
        redis_url="redis://127.0.0.1:6379/0", port=8080, retrieval_target="127.0.0.1:1"
    )
    return create_app(settings)


def gateway_spec(listener: Listener = "public") -> dict[str, Any]:
    """The OpenAPI document the gateway serves at /openapi.json on that listener."""
    gateway = create_gateway_app()
    spec = (gateway.public if listener == "public" else gateway.internal).openapi()
    # A route of several methods lists them in a set's order, which changes between runs: fix one order.
    spec["paths"] = {
        path: dict(sorted(item.items(), key=lambda entry: _method_rank(entry[0])))
        for path, item in spec.get("paths", {}).items()
    }
    return spec


def dumps(spec: Mapping[str, Any]) -> str:
    return json.dumps(spec, indent=2, ensure_ascii=False) + "\n"


def render(spec: Mapping[str, Any]) -> str:
    """Markdown of every operation (parameters, body, responses) and every schema, linked to each other."""
    info = spec.get("info", {})
    lines = [f"*{info.get('title', '')}* {info.get('version', '')}, OpenAPI {spec.get('openapi', '')}.", ""]
    operations = [
        (method, path, operation)
        for path, item in spec.get("paths", {}).items()
        for method, operation in item.items()
        if method in METHODS
    ]
    lines += ["| method | path | what it does |", "|---|---|---|"]
    for method, path, operation in operations:
        link = f"[`{path}`](#{_operation_id(method, path)})"
        lines.append(f"| {method.upper()} | {link} | {_cell(_first_line(operation))} |")
    lines += ["", "## Endpoints", ""]
    for method, path, operation in operations:
        lines += _operation(method, path, operation)
    schemas: Mapping[str, Schema] = spec.get("components", {}).get("schemas", {})
    lines += ["## Schemas", ""]
    for name, schema in schemas.items():
        lines += _schema(name, schema)
    return "\n".join(lines)


def on_page_markdown(markdown: str, *, page: object, config: Mapping[str, Any], files: object) -> str:
    """mkdocs hook: each marker line becomes the rendered document it names (relative to docs/)."""

    def rendered(match: re.Match[str]) -> str:
        path = Path(config["docs_dir"]) / match["path"]
        return render(json.loads(path.read_text(encoding="utf-8")))

    return MARKER.sub(rendered, markdown)


def _operation(method: str, path: str, operation: Schema) -> list[str]:
    lines = [f"### {method.upper()} `{path}` {{#{_operation_id(method, path)}}}", ""]
    description = operation.get("description") or operation.get("summary") or ""
    if description:
        lines += [description.strip(), ""]
    parameters = operation.get("parameters", [])
    if parameters:
        lines += ["| parameter | in | type | required | constraints |", "|---|---|---|---|---|"]
        for parameter in parameters:
            schema = parameter.get("schema", {})
            required = "yes" if parameter.get("required") else "no"
            lines.append(
                f"| `{parameter['name']}` | {parameter['in']} | {_type(schema)} | {required} "
                f"| {_constraints(schema)} |"
            )
        lines.append("")
    body = operation.get("requestBody")
    if body:
        for media, content in body.get("content", {}).items():
            lines += [f"Request body ({media}): {_type(content.get('schema', {}))}", ""]
    lines += ["| status | meaning | body |", "|---|---|---|"]
    for status, response in operation.get("responses", {}).items():
        bodies = ", ".join(
            f"{_type(content['schema'])} ({media})" if content.get("schema") else media
            for media, content in response.get("content", {}).items()
        )
        lines.append(f"| {status} | {_cell(response.get('description', ''))} | {bodies} |")
    return [*lines, ""]


def _schema(name: str, schema: Schema) -> list[str]:
    lines = [f"### {name} {{#{_schema_id(name)}}}", ""]
    if schema.get("description"):
        lines += [_cell(schema["description"]), ""]
    properties: Mapping[str, Schema] = schema.get("properties", {})
    if not properties:
        return [*lines, f"Type: {_type(schema)}.", ""]
    required = set(schema.get("required", []))
    lines += ["| field | type | required | constraints |", "|---|---|---|---|"]
    for field, field_schema in properties.items():
        needed = "yes" if field in required else "no"
        lines.append(f"| `{field}` | {_type(field_schema)} | {needed} | {_constraints(field_schema)} |")
    return [*lines, ""]


def _type(schema: Schema) -> str:
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return f"[{name}](#{_schema_id(name)})"
    for combined in ("anyOf", "oneOf", "allOf"):
        if combined in schema:
            return " or ".join(_type(part) for part in schema[combined])
    if "enum" in schema:
        return "one of " + ", ".join(f"`{value}`" for value in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    kind = schema.get("type")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), Mapping):
        return f"object of {_type(schema['additionalProperties'])}"
    if isinstance(kind, list):
        return " or ".join(str(k) for k in kind)
    return str(kind or "any")


def _constraints(schema: Schema) -> str:
    words = {
        "minLength": "length ≥",
        "maxLength": "length ≤",
        "minimum": "≥",
        "maximum": "≤",
        "exclusiveMinimum": ">",
        "exclusiveMaximum": "<",
        "minItems": "items ≥",
        "maxItems": "items ≤",
        "minProperties": "entries ≥",
        "maxProperties": "entries ≤",
    }
    found = [f"{word} {schema[key]}" for key, word in words.items() if key in schema]
    if "pattern" in schema:
        found.append(f"pattern `{schema['pattern']}`")
    if "default" in schema:
        found.append(f"default `{json.dumps(schema['default'])}`")
    return _cell(", ".join(found))


def _method_rank(key: str) -> int:
    return METHODS.index(key) if key in METHODS else len(METHODS)


def _first_line(operation: Schema) -> str:
    text = str(operation.get("description") or operation.get("summary") or "")
    return text.strip().split("\n", 1)[0]


def _cell(text: str) -> str:
    """Text fit for one table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _operation_id(method: str, path: str) -> str:
    return "op-" + re.sub(r"[^a-z0-9]+", "-", f"{method} {path}".lower()).strip("-")


def _schema_id(name: str) -> str:
    return "schema-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="where the committed documents are")
    parser.add_argument("--check", action="store_true", help="fail when a committed document is stale")
    args = parser.parse_args(argv)
    stale = 0
    for listener, name in DOCUMENTS.items():
        out: Path = args.dir / name
        fresh = dumps(gateway_spec(listener))
        if args.check:
            current = out.read_text(encoding="utf-8") if out.exists() else ""
            if current != fresh:
                sys.stderr.write(f"{out} is stale: run `python -m recgpt_tools.openapi_doc`\n")
                stale = 1
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(fresh, encoding="utf-8")
        sys.stdout.write(f"wrote {out}\n")
    return stale


if __name__ == "__main__":
    raise SystemExit(main())
