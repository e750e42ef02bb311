"""How the commands that run many users through the LLM-bound services (the near-line job, the evaluation)
size their work, declared once for both."""

from __future__ import annotations

# Users at once. Each user has one LLM call in flight at a time (interests, then tags, then explanations),
# so 16 users keep about 16 sequences in vLLM: half of its default max_num_seqs (32), leaving room for the
# calls that serving traffic and the other services run beside the batch.
BATCH_CONCURRENCY = 16
# Deadline of each LLM-bound call (intent, tags, explain, judge): generous, a CPU engine under load is slow.
BATCH_LLM_DEADLINE_S = 300.0
