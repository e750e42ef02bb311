"""RecBot's tools over the catalogue; importing the package registers every tool module listed here."""

from retrieval.tools import aggregator, attenuator, behaviour, filter, matcher

__all__ = ["aggregator", "attenuator", "behaviour", "filter", "matcher"]
