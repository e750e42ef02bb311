"""An arm's adapters reach the agents through the request context, in the form the agents parse."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from experiments import request_params
from experiments.config import ArmParams
from recgpt_serving import context


def test_an_arms_adapters_are_carried_as_the_agents_read_them() -> None:
    params = ArmParams(adapters={"tag_predictor": "20261128T120000Z-sft-abc", "judge": "base"})

    carried = context.RequestContext(adapters=request_params.adapter_choices(params))

    assert carried.adapter_for("tag_predictor") == "20261128T120000Z-sft-abc"
    assert carried.adapter_for("judge") == "base"
    assert carried.adapter_for("explainer") == ""


def test_an_arm_without_adapters_carries_none() -> None:
    assert request_params.adapter_choices(ArmParams()) == ""


def test_an_arm_can_pin_the_v2_experts_adapter_and_no_unknown_agent() -> None:
    params = ArmParams(adapters={"tag_expert": "20261207T071856Z-grpo-sum-f1dbb2dc"})
    carried = context.RequestContext(adapters=request_params.adapter_choices(params))
    assert carried.adapter_for("tag_expert") == "20261207T071856Z-grpo-sum-f1dbb2dc"
    with pytest.raises(ValidationError):
        ArmParams(adapters={"tag_experts": "base"})
