"""A custom layer defined here, in the test module: registered, it validates (with located
errors), compiles, trains, checkpoints, round-trips and has a JSON Schema entry like any
built-in layer; the conformance checks of `kspec.testing` pass on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from pydantic import Field, PositiveInt

import kspec
from kspec.extend import (
    Array,
    BuildEnv,
    Initializer,
    LayerCall,
    LayerSpec,
    LayerWeights,
    Lowering,
    Shape,
    Weights,
    add_bias,
    expect_inputs,
    expect_rank,
    initialize,
)
from kspec.schemas.canonical import json_schema
from kspec.testing import Case, Invalid, check_layer


class GatedSkip(LayerSpec):
    """`y = t * tanh(x @ kernel + bias) + (1 - t) * x` with the gate
    `t = sigmoid(x @ gate_kernel + gate_bias)`."""

    type: Literal["GatedSkip"] = "GatedSkip"
    gate_bias_init: float = Field(-1.0, description="Initial gate bias (negative: carry x).")
    kernel_initializer: Initializer = Field("glorot_uniform", validate_default=True)
    depth: PositiveInt = Field(1, description="Unused; a required-positive parameter to misuse.")


def _shape(spec: GatedSkip, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    expect_inputs(spec, shapes, 1)
    expect_rank(spec, shapes[0], 2)
    return [shapes[0]]


def _init(spec: GatedSkip, key: Array, shapes: list[Shape]) -> LayerWeights:
    n = shapes[0][-1]
    k1, k2 = jax.random.split(key)
    return LayerWeights(
        params={
            "kernel": initialize(spec.kernel_initializer, k1, (n, n)),
            "bias": jnp.zeros((n,)),
            "gate_kernel": initialize(spec.kernel_initializer, k2, (n, n)),
            "gate_bias": jnp.full((n,), spec.gate_bias_init),
        }
    )


def _apply(spec: GatedSkip, params: Weights, inputs: list[Array], call: LayerCall) -> list[Array]:
    (x,) = inputs
    t = jax.nn.sigmoid(add_bias(x @ params["gate_kernel"], params["gate_bias"]))
    h = jnp.tanh(add_bias(x @ params["kernel"], params["bias"]))
    return [t * h + (1.0 - t) * x]


GATED_SKIP = Lowering(GatedSkip, _shape, _apply, _init, mask="propagate")


def _reference(spec: Any, p: dict[str, np.ndarray], xs: list[np.ndarray]) -> list[np.ndarray]:
    (x,) = xs
    t = 1.0 / (1.0 + np.exp(-(x @ p["gate_kernel"] + p["gate_bias"])))
    return [t * np.tanh(x @ p["kernel"] + p["bias"]) + (1.0 - t) * x]


@pytest.fixture
def gated_skip() -> Iterator[type[GatedSkip]]:
    """Registered for one test only: the registry-wide conformance tests must not see it."""
    kspec.register_layer(GatedSkip, GATED_SKIP)
    try:
        yield GatedSkip
    finally:
        kspec.unregister_layer("GatedSkip")


SPEC = """\
kspec: 1
inputs: {x: [4]}
layers:
  - {type: GatedSkip, name: hw}
  - {type: TimeDistributed, layer: {type: GatedSkip}, inputs: [seq]}
  - {type: Dense, units: 2, inputs: [hw]}
outputs: [dense]
"""


def _mlp() -> dict[str, Any]:
    return {
        "kspec": 1,
        "inputs": {"x": {"shape": [4]}},
        "layers": [{"type": "GatedSkip", "gate_bias_init": -2.0}, {"type": "Dense", "units": 2}],
    }


def test_custom_layer_passes_the_conformance_checks(gated_skip: type[GatedSkip]) -> None:
    check_layer(
        gated_skip,
        [Case({}, [[4]]), Case({"gate_bias_init": 0.5}, [[3, 5]])],
        invalid=[Invalid({}, [[]], "rank >= 2")],
        reference=_reference,
    )


def test_bad_parameters_are_located_errors(gated_skip: type[GatedSkip]) -> None:
    text = (
        "kspec: 1\ninputs: {x: [4]}\nlayers:\n"
        "  - {type: GatedSkip, depth: 0}\n"
        "  - {type: GatedSkip, gate_bias: 1.0}\n"
    )
    with pytest.raises(kspec.SpecError) as info:
        kspec.validate(text)
    lines = [str(d) for d in info.value.diagnostics]
    assert lines == [
        "<string>:4:30: error: node 'gated_skip': `depth` should be greater than 0. "
        "Received: depth=0",
        "<string>:5:23: error: node 'gated_skip_1': unknown parameter `gate_bias` "
        "(did you mean `gate_bias_init`?)",
    ]


def test_unregistered_type_lists_plugins() -> None:
    with pytest.raises(kspec.SpecError, match="unknown layer type 'GatedSkip'; no layer plugins"):
        kspec.validate(_mlp())


def test_validates_compiles_trains_and_checkpoints(
    gated_skip: type[GatedSkip], tmp_path: Path
) -> None:
    model = kspec.load(_mlp())
    model.init(0)
    assert [w.shape for w in model.get_weights()][:4] == [(4, 4), (4,), (4, 4), (4,)]
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    y = np.random.default_rng(1).normal(size=(8, 2)).astype("float32")
    before = model.predict(x)
    model.compile(optimizer="sgd", loss="mse")
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    after = model.predict(x)
    assert not np.allclose(before, after)

    model.save_weights(tmp_path / "ckpt")
    again = kspec.load(_mlp())
    again.load_weights(tmp_path / "ckpt")
    np.testing.assert_array_equal(again.predict(x), after)
    restored = kspec.load_checkpoint(tmp_path / "ckpt")
    np.testing.assert_array_equal(restored.predict(x), after)

    copy = kspec.model_from_yaml(model.to_yaml())
    assert copy.spec == model.spec
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    assert any("GatedSkip" in line for line in lines)


def test_checkpoint_names_the_missing_custom_type(
    gated_skip: type[GatedSkip], tmp_path: Path
) -> None:
    model = kspec.load(_mlp())
    model.init(0)
    model.save_weights(tmp_path / "ckpt")
    kspec.unregister_layer("GatedSkip")
    try:
        with pytest.raises(
            kspec.CheckpointError, match=r"'GatedSkip' \(from (tests\.)?(compiler\.)?test_custom"
        ):
            kspec.load_checkpoint(tmp_path / "ckpt")
    finally:
        kspec.register_layer(GatedSkip, GATED_SKIP)


def test_wrapped_and_builder(gated_skip: type[GatedSkip]) -> None:
    spec = {
        "kspec": 1,
        "inputs": {"seq": {"shape": [3, 4]}},
        "layers": [{"type": "TimeDistributed", "layer": {"type": "GatedSkip"}}],
    }
    model = kspec.load(spec)
    model.init(0)
    assert model.output_shape == (None, 3, 4)
    inputs = kspec.Input((4,))
    built = kspec.Model(inputs, kspec.layers.GatedSkip(gate_bias_init=0.0)(inputs))
    assert built.spec.layers[0].gate_bias_init == 0.0  # type: ignore[union-attr]


def test_in_a_sub_model(gated_skip: type[GatedSkip]) -> None:
    inner = {"inputs": {"x": [4]}, "layers": [{"type": "GatedSkip", "depth": 2}]}
    model = kspec.load(
        {"kspec": 1, "inputs": {"x": [4]}, "layers": [{"type": "Model", "spec": inner}]}
    )
    model.init(0)
    assert model.predict(np.ones((2, 4), "float32")).shape == (2, 4)
    bad = {"inputs": {"x": [4]}, "layers": [{"type": "GatedSkip", "depth": -1}]}
    with pytest.raises(kspec.SpecError, match="node 'model/gated_skip': `depth` should be greater"):
        kspec.validate(
            {"kspec": 1, "inputs": {"x": [4]}, "layers": [{"type": "Model", "spec": bad}]}
        )


def test_json_schema_has_the_custom_type(gated_skip: type[GatedSkip]) -> None:
    schema = json_schema()
    assert "GatedSkip" in schema["$defs"]
    assert {"$ref": "#/$defs/GatedSkip"} in schema["properties"]["layers"]["items"]["oneOf"]
    assert schema["$defs"]["GatedSkip"]["properties"]["gate_bias_init"]["default"] == -1.0
    assert "GatedSkip" not in json_schema_without_it()


def json_schema_without_it() -> dict[str, Any]:
    kspec.unregister_layer("GatedSkip")
    try:
        return json_schema()["$defs"]
    finally:
        kspec.register_layer(GatedSkip, GATED_SKIP)


class Dense(LayerSpec):
    """A would-be custom layer with a built-in name."""

    type: Literal["Dense"] = "Dense"


class Misnamed(LayerSpec):
    type: Literal["Other"] = "Other"


@pytest.mark.parametrize(
    ("schema", "lowering", "error"),
    [
        (Dense, Lowering(Dense, _shape, _apply), "'Dense' is a built-in layer type"),
        (Misnamed, Lowering(Misnamed, _shape, _apply), "named after its type"),
        (GatedSkip, Lowering(Dense, _shape, _apply), "is for Dense"),
        (int, GATED_SKIP, "must subclass kspec.LayerSpec"),
    ],
)
def test_registration_is_checked(schema: Any, lowering: Any, error: str) -> None:
    with pytest.raises((TypeError, ValueError), match=error):
        kspec.register_layer(schema, lowering)


def test_a_lowering_with_an_unknown_mask_policy_is_refused() -> None:
    with pytest.raises(ValueError) as raised:
        Lowering(GatedSkip, _shape, _apply, mask="Propagate")  # type: ignore[arg-type]
    assert str(raised.value) == (
        "the lowering of GatedSkip declares mask='Propagate'; "
        "expected one of 'propagate', 'consume', 'drop', 'error'"
    )


def test_a_taken_name_is_refused(gated_skip: type[GatedSkip]) -> None:
    kspec.register_layer(GatedSkip, GATED_SKIP)  # the same pair again: nothing happens
    other = Lowering(GatedSkip, _shape, _apply)
    with pytest.raises(
        ValueError, match=r"already registered by (tests\.)?(compiler\.)?test_custom_layers"
    ):
        kspec.register_layer(GatedSkip, other)
