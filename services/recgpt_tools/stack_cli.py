"""`recgpt-stack`'s command line: its parser, what `up` prints, and the commands on the credentials.

    recgpt-stack api-key [--admin]                 the development (or admin) API key
    recgpt-stack keys create --name N --scopes recommend,feed [--rate R] [--burst B] [--user-tokens MODE]
    recgpt-stack keys list                         every key in the running platform's Redis, no secrets
    recgpt-stack keys revoke KEY_ID
    recgpt-stack user-token USER [--ttl 3600]      a development end-user token (HS256)

Keys are created, listed and revoked in the Redis of the running platform (its run state); the development
keys and the user-token secret are read from `<var>/auth/`. What each prints on stdout is the value alone,
so that `$(recgpt-stack api-key)` works in a shell.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

from gateway.auth.keys import ApiKey, Scope, UserTokens
from gateway.auth.user_tokens import mint
from gateway.settings import GatewaySettings
from recgpt_tools import stack_auth
from recgpt_tools.processes import Started
from recgpt_tools.registry import Engine, Process, Starts
from recgpt_tools.run_state import RunState
from recgpt_tools.supervisor import Record, exit_text

ACTIONS = ("up", "down", "status", "url", "exec", "api-key", "keys", "user-token")


def parser(description: str | None = None) -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="recgpt-stack", description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = main.add_subparsers(dest="action", required=True, metavar="{" + ",".join(ACTIONS) + "}")
    commands.add_parser("up", help="prepare what is missing and start the platform")
    commands.add_parser("down", help="stop exactly what `up` started")
    commands.add_parser(
        "status", help="the processes `up` started, their restarts and last exit (exit 1 unless all run)"
    )
    url = commands.add_parser("url", help="the HTTP root of a running process")
    url.add_argument("name", help="gateway, gateway-internal (the operators' listener), vllm or vllm-<agent>")
    run = commands.add_parser("exec", help="run a command with the platform's addresses and API keys")
    run.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")

    api_key = commands.add_parser("api-key", help="print the development API key (every scope but admin)")
    api_key.add_argument("--admin", action="store_true", help="the admin key instead (every scope)")

    keys = commands.add_parser("keys", help="create, list or revoke API keys in the platform's Redis")
    key_commands = keys.add_subparsers(dest="keys_action", required=True, metavar="{create,list,revoke}")
    create = key_commands.add_parser("create", help="a new key; its text is printed once, never stored")
    create.add_argument("--name", required=True, help="who the key is for (letters, digits, . _ : -)")
    create.add_argument(
        "--scopes",
        required=True,
        type=_scopes,
        help=f"comma-separated, of: {', '.join(scope.value for scope in Scope)}",
    )
    create.add_argument("--rate", type=float, default=100.0, help="requests per second, sustained")
    create.add_argument("--burst", type=int, default=200, help="requests above the rate at once")
    create.add_argument(
        "--user-tokens",
        choices=get_args(UserTokens),
        default="trusted",
        help="required: each request names its user by a signed token (browsers, apps); "
        "trusted: the key may act for any user (backends)",
    )
    key_commands.add_parser("list", help="every key: id, name, scopes, limits, revoked; never a secret")
    revoke = key_commands.add_parser("revoke", help="refuse a key from now on (kept for the record)")
    revoke.add_argument("key_id")

    token = commands.add_parser("user-token", help="a short-lived development user token (X-User-Token)")
    token.add_argument("user", help="the user id the token names (its subject)")
    token.add_argument("--ttl", type=float, default=3600.0, help="seconds it is valid (default 3600)")
    return main


def _scopes(text: str) -> frozenset[Scope]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    known = {scope.value for scope in Scope}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown scopes {unknown}; choose from {', '.join(sorted(known))}")
    if not names:
        raise argparse.ArgumentTypeError("no scope given")
    return frozenset(Scope(name) for name in names)


def exec_command(words: list[str]) -> list[str]:
    """The command after an optional `--`."""
    return words[1:] if words[:1] == ["--"] else words


def api_key(keys_file: Path, *, admin: bool) -> str:
    keys = stack_auth.load_keys(keys_file)
    return (keys.admin if admin else keys.dev).presented


def create_key(state: RunState, args: argparse.Namespace) -> tuple[ApiKey, str]:
    return stack_auth.create(
        state.redis_url,
        state.redis_prefix,
        args.name,
        args.scopes,
        rate_per_s=args.rate,
        burst=args.burst,
        user_tokens=args.user_tokens,
    )


def key_table(keys: list[ApiKey]) -> str:
    """One line per key, under a header; never a secret nor its hash."""
    rows = [("KEY_ID", "NAME", "SCOPES", "RATE/S", "BURST", "USER_TOKENS", "REVOKED")]
    for key in keys:
        scopes = ",".join(sorted(scope.value for scope in key.scopes))
        revoked = "yes" if key.revoked else "no"
        rate = f"{key.rate_per_s:g}"
        rows.append((key.key_id, key.name, scopes, rate, str(key.burst), key.user_tokens, revoked))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def user_token(secret_file: Path, user: str, ttl_s: float) -> str:
    """A token the local gateway accepts: its secret, and the audience and issuer it checks (the
    settings' defaults, or RECGPT_USER_TOKEN_* of this environment, which the launched gateway inherits)."""
    if not user or ttl_s <= 0:
        raise stack_auth.AuthError("a user token needs a user id and a positive --ttl")
    fields = GatewaySettings.model_fields
    audience = os.environ.get("RECGPT_USER_TOKEN_AUDIENCE") or str(fields["user_token_audience"].default)
    issuer = os.environ.get("RECGPT_USER_TOKEN_ISSUER") or str(fields["user_token_issuer"].default)
    return mint(stack_auth.load_secret(secret_file), user, audience=audience, issuer=issuer, ttl_s=ttl_s)


@dataclass(frozen=True)
class StatusLine:
    text: str
    running: bool


def status_line(started: Started, alive: bool, record: Record | None) -> StatusLine:
    """One process in `status`: the pid serving now, running / restarting / exited, restarts, last exit.

    `alive`: whether what was started (its supervisor, if it has one) still runs; `record`: what that
    supervisor records, None without one."""
    pid: int | str = started.pid
    if not alive:
        state = "exited"
    elif record is None or record.state == "running":
        state = "running"
        pid = record.pid if record is not None and record.pid is not None else started.pid
    else:
        state = "restarting" if record.state == "backing off" else record.state
        pid = "-"
    restarts = str(record.restarts) if record is not None else "-"
    last = record.last_exit if record is not None else None
    exit_note = f" (last exit {exit_text(last)})" if last is not None else ""
    where = f"log {started.log_file}"
    text = f"{started.name:10} pid {pid!s:<8} {state:10} restarts {restarts}{exit_note}  {where}"
    return StatusLine(text, state == "running")


def _stack_command() -> str:
    """How to run recgpt-stack from here: `.venv/bin/recgpt-stack` in the repository, else its full path."""
    script = Path(sys.executable).parent / "recgpt-stack"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def usage(
    state: RunState,
    table: Sequence[Process],
    stack_command: str | None = None,
    agents: Mapping[str, str] | None = None,
) -> str:
    """What `up` prints: every process and where it answers, what each LLM agent is served (`agents`: its
    adapter or the base model), then first requests to try.

    The requests read the key with `$(recgpt-stack api-key)` rather than quoting it, so that the key is
    in no log of `make run`'s output."""
    cli = stack_command or _stack_command()
    lines = ["", "RecGPT platform is up."]
    for process in table:
        if process.command is Engine.REDIS:
            where = state.redis_url
        elif process.command is Engine.CACHE_REDIS:
            where = state.cache_redis_url or "not started (the caches live in REDIS_URL)"
        elif process.name in state.targets:
            where = f"grpc://{state.targets[process.name]}"
        elif process.name in state.urls:
            where = state.urls[process.name]
        elif process.starts is Starts.WITH_LLM and state.vllm_url is None:
            where = f"not started (runs {process.starts.value} only)"
        else:
            where = "(no port)"
        metrics = state.metrics_urls.get(process.name)
        line = f"  {process.name:<10} {where:<32} " + (f"metrics: {metrics}" if metrics else "")
        lines.append(line.rstrip())
        internal = state.urls.get(f"{process.name}-internal")
        if internal:
            lines.append(f"  {'':<10} {internal:<32} operators only: admin API, reports, metrics")
    if agents:
        lines.append("LLM agents (RECGPT_LLM_AGENT_ADAPTERS chooses, RECGPT_STACK_MERGED_AGENTS merges):")
        lines += [f"  {agent:<15} {served}" for agent, served in agents.items()]
    gateway = state.gateway_url
    internal = state.urls.get("gateway-internal")
    lines.append(f"API docs: {gateway}/docs")
    if internal:
        lines.append(f"API docs (operators): {internal}/docs")
    bearer = ""
    if state.keys_file is not None:
        lines += [
            f"Every call needs an API key: `{cli} api-key` prints the development key,",
            f"  `{cli} api-key --admin` the admin key (the operators' API); `{cli} keys --help` makes more.",
        ]
        bearer = f' -H "authorization: Bearer $({cli} api-key)"'
    lines += [
        "Try:",
        f"  curl -s -X POST {gateway}/v1/recommend{bearer} \\",
        """       -H 'content-type: application/json' -d '{"user_id": "ABW8NXS7SV55K", "n": 5}'""",
        f"  curl -s -X POST {gateway}/v1/recommend{bearer} \\",
        "       -H 'content-type: application/json' \\",
        """       -d '{"user_id": "ABW8NXS7SV55K", "n": 5, "variant": "recgpt-v1"}'""",
    ]
    if internal and state.keys_file is not None:
        lines += [
            f"  curl -s {internal}/v1/admin/experiments/current \\",
            f'       -H "authorization: Bearer $({cli} api-key --admin)"',
        ]
    lines += ["Stop everything with: make stop", ""]
    return "\n".join(lines)
