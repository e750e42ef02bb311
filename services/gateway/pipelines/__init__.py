"""Pipeline variants: each turns a validated request into items; A/B routing picks one per user."""

from gateway.pipelines.base import Pipeline, PipelineUnavailable, Recommendation

__all__ = ["Pipeline", "PipelineUnavailable", "Recommendation"]
