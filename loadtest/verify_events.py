"""Sent = stored: every event id a load test sent is in the event stream exactly once.

python -m experiments.verify_events --ids var/loadtest/event-ids.txt --redis-url redis://... --prefix recgpt
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from pathlib import Path

from experiments.events import iter_events
from recgpt_domain.redis_connection import connect
from recgpt_tools import run_state


async def verify(sent: list[str], redis_url: str, prefix: str) -> tuple[str, int]:
    wanted = set(sent)
    client = connect(redis_url)
    started = time.perf_counter()
    seen: Counter[str] = Counter()
    first_ts, last_ts = None, None
    try:
        async for event in iter_events(client, prefix):
            if event["id"] in wanted:
                seen[event["id"]] += 1
                ts = int(event["ts"])
                first_ts = ts if first_ts is None else min(first_ts, ts)
                last_ts = ts if last_ts is None else max(last_ts, ts)
    finally:
        await client.aclose()
    missing = [i for i in wanted if seen[i] == 0]
    twice = [i for i, count in seen.items() if count > 1]
    span_s = (last_ts - first_ts) / 1000 if first_ts is not None and last_ts is not None else 0.0
    stored = sum(seen.values())
    message = (
        f"sent {len(wanted)} distinct ids; stored {stored};"
        f" missing {len(missing)}; stored more than once {len(twice)};"
        f" stored over {span_s:.1f} s ({stored / span_s if span_s else 0:.0f} events/s);"
        f" read back in {time.perf_counter() - started:.1f} s"
    )
    return message, 1 if missing or twice else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=Path, required=True)
    parser.add_argument("--stack", type=Path, required=True, help="the run state of `make run`")
    args = parser.parse_args()
    state = run_state.read(args.stack)
    sent = [line.strip() for line in args.ids.read_text().splitlines() if line.strip()]
    message, code = asyncio.run(verify(sent, state.redis_url, state.redis_prefix))
    print(message)
    raise SystemExit(code)


if __name__ == "__main__":
    main()
