"""`python -m recgpt_tools.probe HOST:PORT SERVICE`: exits 0 when standard gRPC health says SERVING for
SERVICE, 1 otherwise. docker compose's healthcheck of a gRPC container (Kubernetes probes gRPC itself)."""

from __future__ import annotations

import sys

from recgpt_tools.readiness import grpc_serving


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        sys.stderr.write("usage: python -m recgpt_tools.probe HOST:PORT SERVICE\n")
        return 2
    return 0 if grpc_serving(args[0], args[1]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
