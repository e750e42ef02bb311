"""RecBot's interactive feed in the gateway: commands, preference memory, and preferences on every page."""
