"""The gateway's per-request cost of checking a caller, in process: `python -m loadtest.bench_auth_check`.

Times `Authenticator.authenticate` with a valid key (bearer parse, dict lookup, SHA-256, token bucket) against
authentication off, over `--calls` calls each: the check's own cost, free of the network and of the
machine's load that make two knees measured minutes apart differ by more than it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from gateway.auth.callers import Authenticator
from gateway.auth.key_cache import KeyCache
from gateway.auth.keys import Scope, new_key
from gateway.auth.rate_limit import RateLimiter
from gateway.auth.user_tokens import UserTokenSettings, UserTokenVerifier


async def per_call_us(authenticator: Authenticator, header: bytes, calls: int) -> float:
    began = time.perf_counter()
    for _ in range(calls):
        await authenticator.authenticate(header, None)
    return (time.perf_counter() - began) / calls * 1e6


async def run(calls: int) -> dict[str, float]:
    key, presented = new_key("bench", frozenset(Scope), rate_per_s=1e6, burst=1_000_000)
    keys = KeyCache({key.key_id: key}, uses_store=False, refresh_s=1.0, timeout_s=1.0)
    tokens = UserTokenVerifier(UserTokenSettings("", "", "recgpt-gateway", "recgpt-dev", 30.0))
    header = f"Bearer {presented}".encode()
    on = Authenticator(keys, RateLimiter(), tokens, enabled=True)
    off = Authenticator(keys, RateLimiter(), tokens, enabled=False)
    await per_call_us(on, header, calls // 10)  # warm-up
    return {
        "auth_on_us": round(await per_call_us(on, header, calls), 2),
        "auth_off_us": round(await per_call_us(off, header, calls), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=100_000)
    args = parser.parse_args()
    print(json.dumps({"bench": "auth-check", "calls": args.calls, **asyncio.run(run(args.calls))}))


if __name__ == "__main__":
    main()
