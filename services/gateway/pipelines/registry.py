"""The pipelines by variant name, built once per app: requests pick one now, A/B routing will later."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from gateway.pipelines.base import Pipeline, Recommendation
from gateway.pipelines.baseline import BaselinePipeline
from gateway.pipelines.calls import RouteCalls
from gateway.pipelines.explanations import Explainer, SituatedExplainer
from gateway.pipelines.last_resort import LastResortPage
from gateway.pipelines.live_judge import LiveJudge
from gateway.pipelines.recgpt_v1 import RecGptV1Pipeline
from gateway.pipelines.recgpt_v2 import MethodProfiles, RecGptV2Pipeline
from gateway.schemas import RecommendRequest
from gateway.settings import GatewaySettings
from recgpt.explain.v1 import explain_pb2_grpc
from recgpt.retrieval.v1 import retrieval_pb2_grpc
from recgpt_domain.behaviour_store import BehaviourStore
from recgpt_domain.profile_store import METHOD_V1, METHOD_V2, ProfileStore
from recgpt_domain.refresh_queue import QueueLimits, RefreshQueue

DEFAULT_VARIANT = BaselinePipeline.name


class UnknownVariant(LookupError):
    """The request named a variant this gateway does not serve: a 422 with the known names."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.reason = f"invalid request: unknown variant {name!r}, expected one of {', '.join(sorted(known))}"
        super().__init__(self.reason)


class PipelineRegistry:
    def __init__(
        self,
        pipelines: Iterable[Pipeline],
        out_of_time: Callable[[RecommendRequest], Recommendation],
        default: str = DEFAULT_VARIANT,
    ) -> None:
        self.pipelines = {pipeline.name: pipeline for pipeline in pipelines}
        if default not in self.pipelines:
            raise ValueError(f"default variant {default!r} is not registered")
        self.default = default
        # The answer of a request whose pipeline ran past the deadline, whatever its variant.
        self.out_of_time = out_of_time

    def get(self, name: str | None) -> Pipeline:
        """The named variant's pipeline, the default one for None; raises UnknownVariant."""
        pipeline = self.pipelines.get(self.default if name is None else name)
        if pipeline is None:
            raise UnknownVariant(str(name), self.pipelines)
        return pipeline


def build(
    retrieval: retrieval_pb2_grpc.RetrievalServiceStub,
    behaviour: BehaviourStore,
    profiles: ProfileStore,
    explain: explain_pb2_grpc.ExplainServiceStub | None,
    judge: LiveJudge,
    last_resort: LastResortPage,
    settings: GatewaySettings,
) -> PipelineRegistry:
    """Every variant over shared connections: baseline, recgpt-v1 and recgpt-v2 (V1's serving over V2's
    profiles, with V2's situated explanations)."""
    calls = RouteCalls(retrieval, behaviour, settings)
    baseline = BaselinePipeline(calls, last_resort, settings)
    refresh_queue = RefreshQueue(
        profiles.client,
        settings.redis_prefix,
        METHOD_V1,
        limits=QueueLimits(settings.refresh_queue_max_depth, settings.refresh_marker_ttl_s),
    )
    recgpt_v1 = RecGptV1Pipeline(
        calls, profiles, refresh_queue, baseline, Explainer(explain, settings), judge, settings
    )
    recgpt_v2 = RecGptV2Pipeline(
        RecGptV1Pipeline(
            calls,
            MethodProfiles(profiles, METHOD_V2),
            RefreshQueue(
                profiles.client,
                settings.redis_prefix,
                METHOD_V2,
                limits=QueueLimits(settings.refresh_queue_max_depth, settings.refresh_marker_ttl_s),
            ),
            baseline,
            SituatedExplainer(explain, settings),
            judge,
            settings,
        )
    )
    return PipelineRegistry([baseline, recgpt_v1, recgpt_v2], out_of_time=baseline.out_of_time)
