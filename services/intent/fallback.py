"""The non-LLM interests: the user's most frequent categories, used whenever the LLM answer is unusable.

They are the domain's (`recgpt_domain.behaviour_context`), because the agents' training starts from the same.
"""

from __future__ import annotations

from recgpt_domain.behaviour_context import frequent_category_interests

__all__ = ["frequent_category_interests"]
