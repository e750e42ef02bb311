"""Config validation: every problem named, so a bad config is refused with its reasons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from pydantic import ValidationError

from experiments.config import ConfigProblems, ExperimentConfig, check
from experiments.runtime import read_yaml
from tests.experiments.configs import VARIANTS, config, two_arms


def problems_of(candidate: ExperimentConfig) -> list[str]:
    with pytest.raises(ConfigProblems) as error:
        check(candidate, VARIANTS)
    return error.value.problems


def test_good_config_passes() -> None:
    check(config(two_arms()), VARIANTS)


def test_overlapping_arm_buckets_are_named() -> None:
    bad = two_arms()
    bad["arms"][1]["buckets"] = [{"start": 4000, "end": 10000}]
    assert any("overlaps" in p for p in problems_of(config(bad)))


def test_weights_that_do_not_cover_the_layer() -> None:
    bad = two_arms()
    bad["arms"][1]["buckets"] = [{"start": 5000, "end": 9000}]
    assert any("sum to 0.9000" in p for p in problems_of(config(bad)))


def test_unknown_variant_and_control_and_forced_arm() -> None:
    bad = two_arms(control="nobody", forced={"qa": "ghost"})
    bad["arms"][1]["params"] = {"variant": "recgpt-v9"}
    found = " | ".join(problems_of(config(bad)))
    assert "unknown variant 'recgpt-v9'" in found
    assert "control arm 'nobody'" in found
    assert "unknown arm 'ghost'" in found


def test_namespace_overlap_and_shared_salt_and_shared_param() -> None:
    a = two_arms("a", layer_buckets=[{"start": 0, "end": 6000}])
    b = two_arms("b", layer_buckets=[{"start": 5000, "end": 10000}])
    assert any("layer 'pipeline'" in p and "overlaps" in p for p in problems_of(config(a, b)))
    two_layers = ExperimentConfig.model_validate(
        {
            "layers": [
                {"name": "one", "salt": "same", "experiments": [two_arms("a")]},
                {"name": "two", "salt": "same", "experiments": [two_arms("b")]},
            ]
        }
    )
    found = " | ".join(problems_of(two_layers))
    assert "share a salt" in found and "parameter 'variant' is set by layers" in found


def test_malformed_shapes_fail_as_models() -> None:
    with pytest.raises(ValidationError):
        ExperimentConfig.model_validate({"layers": [{"name": "UPPER", "salt": "s"}]})
    with pytest.raises(ValidationError):
        ExperimentConfig.model_validate({"layers": [], "surprise": 1})


@pytest.mark.parametrize("field", ["start", "stop"])
def test_a_time_without_a_zone_is_refused(field: str) -> None:
    naive: dict[str, Any] = {field: "2026-11-28T12:00:00"}
    with pytest.raises(ValidationError, match="timezone"):
        config(two_arms(**naive))
    with pytest.raises(ValidationError, match="timezone"):
        ExperimentConfig.model_validate_json(
            config(two_arms())
            .model_dump_json()
            .replace(f'"{field}":null', f'"{field}":"2026-11-28T12:00:00"')
        )
    zoned: dict[str, Any] = {field: "2026-11-28T12:00:00+01:00"}
    aware = config(two_arms(**zoned))
    assert getattr(aware.layers[0].experiments[0], field).utcoffset() is not None


def test_a_yaml_file_with_a_naive_time_does_not_load(tmp_path: Path) -> None:
    path = tmp_path / "experiments.yaml"
    body = config(two_arms(start="2026-11-28T12:00:00Z")).model_dump(mode="json")
    path.write_text(yaml.safe_dump(body).replace("2026-11-28T12:00:00Z", "2026-11-28 12:00:00"))

    with pytest.raises(ValidationError, match="timezone"):
        read_yaml(path)
    path.write_text(yaml.safe_dump(body))
    assert read_yaml(path).layers[0].experiments[0].start is not None


def test_revenue_settings_are_bounded() -> None:
    with pytest.raises(ValidationError):
        config(two_arms(purchase_value_cap=0.0))
    with pytest.raises(ValidationError):
        config(two_arms(revenue_winsor_quantile=1.5))
    assert config(two_arms(purchase_value_cap=500.0)).layers[0].experiments[0].revenue_winsor_quantile == 0.99
