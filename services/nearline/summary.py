"""What a run did and how fast: users, LLM tokens and throughput over the wall time."""

from __future__ import annotations

from pydantic import BaseModel

from nearline.job import Tally


class Summary(BaseModel):
    users_done: int
    users_skipped: int
    users_failed: int
    users_with_fallback: int
    explanations: int
    concurrency: int
    wall_s: float
    users_per_minute: float
    prompt_tokens: int
    completion_tokens: int
    engine_seconds: float
    completion_tokens_per_s: float
    total_tokens_per_s: float

    @classmethod
    def of(cls, tally: Tally, wall_s: float, concurrency: int) -> Summary:
        """Rates are over the wall time of the whole run (refreshed users only; skips cost no LLM)."""
        usage = tally.usage
        per_s = 1.0 / wall_s if wall_s > 0 else 0.0
        return cls(
            users_done=tally.done,
            users_skipped=tally.skipped,
            users_failed=tally.failed,
            users_with_fallback=tally.fallbacks,
            explanations=tally.explanations,
            concurrency=concurrency,
            wall_s=round(wall_s, 3),
            users_per_minute=round(tally.done * 60.0 * per_s, 2),
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            engine_seconds=round(usage.engine_seconds, 3),
            completion_tokens_per_s=round(usage.completion_tokens * per_s, 2),
            total_tokens_per_s=round((usage.prompt_tokens + usage.completion_tokens) * per_s, 2),
        )

    def text(self) -> str:
        return "\n".join(
            [
                f"users: {self.users_done} done, {self.users_skipped} skipped (fresh), "
                f"{self.users_failed} failed; {self.users_with_fallback} with an agent fallback",
                f"explanations precomputed: {self.explanations}",
                f"wall: {self.wall_s:.1f} s at concurrency {self.concurrency}: "
                f"{self.users_per_minute:.2f} users/min",
                f"LLM tokens: {self.prompt_tokens} prompt, {self.completion_tokens} completion "
                f"(engine {self.engine_seconds:.1f} s summed over calls)",
                f"throughput: {self.completion_tokens_per_s:.1f} completion tok/s, "
                f"{self.total_tokens_per_s:.1f} total tok/s",
            ]
        )
