"""Config round trips in the kspec spec format: spec -> model -> to_yaml/to_json/get_config ->
spec is a fixed point, for every example and for generated specs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kspec
from kspec.layers import Dense, Dropout

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


def _assert_fixed_point(model: kspec.Model) -> None:
    text = model.to_yaml()
    again = kspec.model_from_yaml(text)
    assert again.spec == model.spec
    assert again.to_yaml() == text
    assert kspec.model_from_json(model.to_json()).spec == model.spec
    assert kspec.Model.from_config(model.get_config()).spec == model.spec


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_are_fixed_points(path: Path) -> None:
    _assert_fixed_point(kspec.load(path))


def test_builder_model_is_a_fixed_point_and_validates_from_the_cli(tmp_path: Path) -> None:
    model = kspec.Sequential([Dense(8, input_dim=4, activation="relu"), Dropout(0.5), Dense(2)])
    _assert_fixed_point(model)
    path = tmp_path / "model.yaml"
    path.write_text(model.to_yaml())
    result = subprocess.run(
        [sys.executable, "-m", "kspec.runtime.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{path}: ok (3 nodes; outputs (None, 2))"


def test_sequential_from_config_keeps_the_spec_and_can_grow() -> None:
    original = kspec.Sequential([Dense(3, input_dim=5, name="a"), Dense(4, name="b")])
    rebuilt = kspec.Sequential.from_config(original.get_config())
    assert rebuilt.get_config() == original.get_config()
    rebuilt.add(Dense(1))
    assert rebuilt.output_shape == (None, 1)
    assert rebuilt.layer_names == ["a", "b", "dense"]


def test_sequential_from_config_rejects_graphs() -> None:
    siamese = next(p for p in EXAMPLES if p.stem == "siamese")
    with pytest.raises(kspec.SpecError, match="not a sequential model"):
        kspec.Sequential.from_config(kspec.load(siamese).get_config())


def test_model_from_yaml_never_runs_code() -> None:
    text = "!!python/object/apply:os.system ['echo pwned']\n"
    with pytest.raises(kspec.SpecError) as info:
        kspec.model_from_yaml(text)
    assert str(info.value) == (
        "<string>:1:1: error: unsupported YAML tag !!python/object/apply:os.system; specs hold "
        "plain data only"
    )


# Generated specs ---------------------------------------------------------------------------

ACTIVATIONS = st.sampled_from([None, "relu", "tanh", "sigmoid", "softmax"])


@st.composite
def layer_items(draw: st.DrawFn, features: int) -> tuple[dict[str, Any], int]:
    """One core layer fed `features` values, and its output's feature count."""
    kind = draw(st.sampled_from(["Dense", "Dropout", "Activation", "Reshape", "RepeatFlat"]))
    if kind == "Dense":
        units = draw(st.integers(1, 6))
        item = {"type": "Dense", "units": units, "activation": draw(ACTIVATIONS)}
        if draw(st.booleans()):
            item["use_bias"] = False
        return item, units
    if kind == "Dropout":
        return {"type": "Dropout", "rate": draw(st.sampled_from([0.0, 0.1, 0.5]))}, features
    if kind == "Activation":
        return {"type": "Activation", "activation": draw(ACTIVATIONS) or "linear"}, features
    if kind == "Reshape":
        return {"type": "Reshape", "target_shape": [features]}, features
    return {"type": "ActivityRegularization", "l2": 0.01}, features


@st.composite
def generated_specs(draw: st.DrawFn) -> dict[str, Any]:
    features = draw(st.integers(1, 6))
    spec: dict[str, Any] = {"kspec": 1, "inputs": {"x": [features]}, "layers": []}
    for i in range(draw(st.integers(1, 5))):
        item, features = draw(layer_items(features))
        if draw(st.booleans()):
            item["name"] = f"n{i}"
        spec["layers"].append(item)
    if draw(st.booleans()):
        spec["name"] = draw(st.sampled_from(["m", "net_1", "a.b"]))
    return spec


@settings(
    max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(generated_specs())
def test_generated_specs_are_fixed_points(spec: dict[str, Any]) -> None:
    model = kspec.load(spec)
    _assert_fixed_point(model)
    rebuilt = kspec.Sequential.from_config(model.get_config())
    assert rebuilt.to_yaml() == model.to_yaml()
