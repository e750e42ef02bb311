"""The shared domain: the catalogue, the Redis stores, behaviour context, grounding and prompt text."""
