"""Who may call what: API keys with scopes, end-user tokens, per-key rate limits."""
