"""RecBot's command parser (`ParseCommand`): a user's words into preferences, apart from interest mining.

`rules` decides what it can be sure of, `llm` resolves what the rules leave, `vocabulary` holds the catalogue
names both check against, `parser` runs them in that order, and `service` is the gRPC call around it.
"""
