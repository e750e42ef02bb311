"""What a run did and how fast: users by outcome, LLM tokens and throughput over the wall time.

`users_done` counts profiles the LLM made; `users_fallback` those an agent's fallback answered, which are
stored but are not LLM output. `concurrency` is the most users at once; the limit under it
(`nearline.adaptive`) is reported as it ended and at its lowest.
"""

from __future__ import annotations

from pydantic import BaseModel

from nearline.adaptive import ConcurrencyLimiter
from nearline.job import Tally


class Summary(BaseModel):
    users_done: int
    users_fallback: int
    users_skipped: int
    users_failed: int
    explanations: int
    # Refreshed users some of whose explanations came from the explain service's template.
    users_with_template_explanations: int
    concurrency: int
    concurrency_limit_final: int
    concurrency_limit_lowest: int
    wall_s: float
    users_per_minute: float
    prompt_tokens: int
    completion_tokens: int
    engine_seconds: float
    completion_tokens_per_s: float
    total_tokens_per_s: float

    @classmethod
    def of(
        cls, tally: Tally, wall_s: float, concurrency: int, limiter: ConcurrencyLimiter | None = None
    ) -> Summary:
        """Rates are over the wall time of the whole run; users/min counts every refreshed user (LLM or
        fallback: both cost LLM calls), not skips. No limiter: the limit was `concurrency` all along."""
        usage = tally.usage
        per_s = 1.0 / wall_s if wall_s > 0 else 0.0
        return cls(
            users_done=tally.done,
            users_fallback=tally.fallback,
            users_skipped=tally.skipped,
            users_failed=tally.failed,
            explanations=tally.explanations,
            users_with_template_explanations=tally.explanation_fallbacks,
            concurrency=concurrency,
            concurrency_limit_final=concurrency if limiter is None else limiter.limit,
            concurrency_limit_lowest=concurrency if limiter is None else limiter.lowest,
            wall_s=round(wall_s, 3),
            users_per_minute=round((tally.done + tally.fallback) * 60.0 * per_s, 2),
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            engine_seconds=round(usage.engine_seconds, 3),
            completion_tokens_per_s=round(usage.completion_tokens * per_s, 2),
            total_tokens_per_s=round((usage.prompt_tokens + usage.completion_tokens) * per_s, 2),
        )

    def text(self) -> str:
        return "\n".join(
            [
                f"users: {self.users_done} done (LLM), {self.users_fallback} fallback (an agent's non-LLM "
                f"answer, stale within hours), {self.users_skipped} skipped (fresh), "
                f"{self.users_failed} failed",
                f"explanations precomputed: {self.explanations} "
                f"({self.users_with_template_explanations} users with template explanations)",
                f"wall: {self.wall_s:.1f} s at concurrency up to {self.concurrency} (limit "
                f"{self.concurrency_limit_final} at the end, {self.concurrency_limit_lowest} at its lowest): "
                f"{self.users_per_minute:.2f} users/min",
                f"LLM tokens: {self.prompt_tokens} prompt, {self.completion_tokens} completion "
                f"(engine {self.engine_seconds:.1f} s summed over calls)",
                f"throughput: {self.completion_tokens_per_s:.1f} completion tok/s, "
                f"{self.total_tokens_per_s:.1f} total tok/s",
            ]
        )
