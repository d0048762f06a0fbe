"""What lowerings declare instead of what names suggest: the weights each regularizer and
constraint governs, whether a layer can be wrapped, and node names in compiled programs. Also
that wrappers lower any registered layer, plugins included, through the compiler's lookup."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kspec
from kspec.compiler.lowering import Composite, Lowering
from kspec.compiler.registry import registered as lowering_of
from kspec.errors import SpecError
from kspec.extend import Array, BuildEnv, LayerCall, LayerSpec, LayerWeights, Shape, Weights
from kspec.schemas import layer_class, layer_types
from tests.compiler.test_conformance import CASES


@contextmanager
def registered(schema: type[LayerSpec], lowering: Lowering[Any]) -> Iterator[None]:
    """A custom layer for one test only: registry-wide tests must not see it."""
    kspec.register_layer(schema, lowering)
    try:
        yield
    finally:
        kspec.unregister_layer(schema.__name__)


def _rule_fields(cls: type[LayerSpec]) -> set[str]:
    return {
        name
        for name in cls.model_fields
        if name.endswith(("_regularizer", "_constraint")) and name != "activity_regularizer"
    }


@pytest.mark.parametrize("cls", layer_types(), ids=lambda c: c.__name__)
def test_every_weight_rule_field_is_declared(cls: type[LayerSpec]) -> None:
    entry = lowering_of(cls)
    if isinstance(entry, Composite):  # its rules are the held layers' own
        assert not _rule_fields(cls)
        return
    assert set(entry.governs) == _rule_fields(cls)


RULED = [t for t in CASES if (cls := layer_class(t)) is not None and _rule_fields(cls)]


@pytest.mark.parametrize("type_name", RULED)
def test_declared_weights_are_the_layers_weights(type_name: str) -> None:
    """Every weight a rule field governs is one the layer creates in some conformance case
    (a typo would silently leave a regularizer unapplied)."""
    created: set[str] = set()
    for case in CASES[type_name]:
        inputs = {f"x{i}": {"shape": s} for i, s in enumerate(case.shapes)}
        layer = {"type": type_name, **case.params}
        if len(inputs) > 1:
            layer["inputs"] = list(inputs)
        model = kspec.load({"kspec": 1, "inputs": inputs, "layers": [layer]})
        (node,) = model.compiled.graph.nodes
        created |= {name for _, name in model.compiled.weight_names(node.layer)}
    assert isinstance(node.lowering, Lowering)
    declared = {w for weights in node.lowering.governs.values() for w in weights}
    optional = {"bias", "gamma", "beta"}  # absent with use_bias / scale / center off
    assert declared - optional <= created and declared & created


def test_wrapped_layer_rules_apply_under_the_wrapper() -> None:
    """A kernel regularizer of the layer inside Bidirectional penalizes both directions'
    kernels, found through the lowerings' declarations."""
    lstm = {"type": "LSTM", "units": 2, "kernel_regularizer": {"l2": 0.5}}
    model = kspec.load(
        {"kspec": 1, "inputs": {"x": [3, 4]}, "layers": [{"type": "Bidirectional", "layer": lstm}]}
    )
    params = model.variables["params"]["bidirectional"]
    expected = 0.5 * sum(
        float(jnp.sum(params[f"{d}_kernel"] ** 2)) for d in ("forward", "backward")
    )
    penalty = model.compiled.weight_penalty(model.variables["params"])
    np.testing.assert_allclose(float(penalty), expected, rtol=1e-6)


# A plugin layer, wrapped with no change to wrappers.py ------------------------------------------


class Scale(LayerSpec):
    """`y = x * factor` per feature (a weight)."""

    type: Literal["Scale"] = "Scale"


def _shape(spec: Scale, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    return [shapes[0]]


def _init(spec: Scale, key: Array, shapes: list[Shape]) -> LayerWeights:
    return LayerWeights({"factor": jax.random.normal(key, (shapes[0][-1],))})


def _apply(spec: Scale, params: Weights, inputs: list[Array], call: LayerCall) -> list[Array]:
    x = inputs[0]
    return [x * params["factor"].reshape((1,) * (x.ndim - 1) + (-1,))]


def test_plugin_layer_is_wrappable() -> None:
    with registered(Scale, Lowering(Scale, _shape, _apply, _init)):
        model = kspec.load(
            {
                "kspec": 1,
                "inputs": {"x": [3, 4]},
                "layers": [{"type": "TimeDistributed", "layer": {"type": "Scale"}}],
            }
        )
        x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
        factor = np.asarray(model.variables["params"]["time_distributed"]["factor"])
        np.testing.assert_allclose(model.predict(x), x * factor, rtol=1e-6)


def test_unwrappable_layer_is_a_located_error() -> None:
    lowering = Lowering(Scale, _shape, _apply, _init, wrappable=False)
    text = (
        "kspec: 1\ninputs: {x: [3, 4]}\nlayers:\n"
        "  - {type: TimeDistributed, layer: {type: Scale}}\n"
    )
    with registered(Scale, lowering), pytest.raises(SpecError) as error:
        kspec.validate(text)
    assert [str(d) for d in error.value.diagnostics] == [
        "<string>:4:5: error: node 'time_distributed': TimeDistributed cannot wrap Scale: the "
        "layer declares that it cannot run with time folded into the batch (input shapes: "
        "(None, 3, 4))"
    ]


# Profiles read like the spec --------------------------------------------------------------------


def test_node_names_appear_in_the_lowered_program() -> None:
    model = kspec.load(
        {
            "kspec": 1,
            "inputs": {"x": [4]},
            "layers": [
                {"type": "Dense", "units": 3, "name": "encoder_proj"},
                {"type": "Activation", "activation": "tanh", "name": "squash"},
            ],
        }
    )

    def run(variables: Any, x: Array) -> Any:
        return model.apply(variables, x)

    text = jax.jit(run).lower(model.variables, jnp.zeros((2, 4))).as_text(debug_info=True)
    assert "encoder_proj" in text and "squash" in text
