"""A/B experiments: assignment of users to arms, the config and its history, events, reports."""
