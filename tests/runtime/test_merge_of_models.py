"""Keras 1 `Merge([left_branch, right_branch], mode='concat')` of two Sequential models, as the
first layer of a Sequential: in a spec (inline or included branches) and in the builder."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import kspec
from kspec.layers import Dense, Merge

pytestmark = pytest.mark.filterwarnings("ignore::kspec.errors.KspecDeprecationWarning")

SPEC = """\
kspec: 1
name: merged
layers:
  - type: Merge
    mode: concat
    layers:
      - Model: {spec: {name: left, layers: [{type: Dense, units: 4, input_dim: 3}]}}
      - {type: Model, include: right.yaml}
  - {type: Dense, units: 2, activation: softmax}
"""
RIGHT = "kspec: 1\nname: right\nlayers:\n  - {type: Dense, units: 5, input_dim: 6}\n"


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    (tmp_path / "right.yaml").write_text(RIGHT)
    (tmp_path / "merged.yaml").write_text(SPEC)
    return tmp_path / "merged.yaml"


def _builder() -> kspec.Sequential:
    left = kspec.Sequential([Dense(4, input_dim=3)], name="left")
    right = kspec.Sequential([Dense(5, input_dim=6)], name="right")
    model = kspec.Sequential(name="merged")
    model.add(Merge([left, right], mode="concat"))
    model.add(Dense(2, activation="softmax"))
    return model


def test_spec_and_builder_give_the_same_model(spec_file: Path) -> None:
    from_spec, built = kspec.load(spec_file), _builder()
    assert built.spec == from_spec.spec
    assert from_spec.input_names == ["input", "input_1"]
    assert [n.name for n in from_spec.spec.layers] == ["left", "right", "merge", "dense"]
    built.set_weights(from_spec.get_weights())
    x_left = np.random.default_rng(0).standard_normal((3, 3)).astype(np.float32)
    x_right = np.random.default_rng(1).standard_normal((3, 6)).astype(np.float32)
    expected = from_spec.predict([x_left, x_right])
    assert expected.shape == (3, 2)
    np.testing.assert_allclose(built.predict([x_left, x_right]), expected, rtol=1e-6)
    left = from_spec.get_layer("left").get_layer("dense").get_weights()
    np.testing.assert_allclose(expected, _reference(from_spec, left, x_left, x_right), rtol=1e-5)


def _reference(
    model: kspec.Model, left: list[np.ndarray], x_left: np.ndarray, x_right: np.ndarray
) -> np.ndarray:
    right = model.get_layer("right").get_layer("dense").get_weights()
    kernel, bias = model.get_layer("dense").get_weights()
    logits = np.concatenate([x_left @ left[0] + left[1], x_right @ right[0] + right[1]], 1)
    z = np.exp(logits @ kernel + bias)
    return z / z.sum(1, keepdims=True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (SPEC.replace("name: merged\n", "name: merged\ninputs: {x: [3]}\n"),
         "a Merge of models declares the model's inputs"),
        (SPEC.replace("layers:\n  - type: Merge", "layers:\n  - {type: Dense, units: 3, "
                      "input_dim: 3}\n  - type: Merge"),
         "a Merge of models (`layers:`) must be the first layer"),
        (SPEC.replace("{type: Model, include: right.yaml}", "{type: Dense, units: 2}"),
         "each Merge branch is a model"),
    ],
)  # fmt: skip
def test_misplaced_merge_of_models_is_located(
    tmp_path: Path, text: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "right.yaml").write_text(RIGHT)
    with pytest.raises(kspec.SpecError, match=re.escape(message)) as info:
        kspec.load(text)
    assert str(info.value).startswith("<string>:")


def test_merge_without_layers_still_merges_tensors() -> None:
    a, b = kspec.Input((3,)), kspec.Input((3,))
    model = kspec.Model([a, b], Merge(mode="sum")([a, b]))
    ones = np.ones((1, 3), np.float32)
    np.testing.assert_array_equal(model.predict([ones, ones]), 2 * ones)


def test_builder_merge_takes_models_only() -> None:
    with pytest.raises(kspec.SpecError, match="merges models"):
        Merge([Dense(2), Dense(3)], mode="concat")
