"""Parity harness: the same model in kspec and in Keras 3, Keras' weights copied into kspec,
outputs compared. One helper turns each layer test into a table row (Keras' `run_layer_test`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import keras
import numpy as np

import kspec

RTOL = 1e-5
ATOL = 1e-6


def keras_side() -> Any:
    """Context for running the oracle: Keras' own JAX code relies on rank promotion (a bias
    `(units,)` added to `(batch, units)`), which tests/conftest.py makes an error for kspec."""
    return jax.numpy_rank_promotion("allow")


@dataclass(frozen=True)
class LayerCase:
    """One table row: a kspec layer spec and a factory for the equivalent Keras layer(s).

    `input_shape` excludes the batch axis; `keras_layers` returns a list so a row can be a
    short stack (e.g. Dense then Activation).
    """

    id: str
    layers: list[dict[str, Any]]
    keras_layers: Callable[[], list[keras.layers.Layer]]
    input_shape: tuple[int, ...]
    model: dict[str, Any] = field(default_factory=dict)  # extra top-level spec keys


POSITIVE_WEIGHTS = ("variance", "gamma", "scale")
"""Weight names whose values must stay positive (variances) or near one (scales) to mean what
the layer expects; `randomize_weights` draws these from [0.5, 1.5]."""


def randomize_weights(keras_object: Any, seed: int = 0) -> Any:
    """Give every float weight of a built Keras layer or model a random value, and return it.

    Initializers leave biases, BatchNorm statistics and recurrent biases at 0 or 1, and a bug
    on a path multiplied by zero (a dropped bias add) or one goes unseen when those constants
    are copied. Positive weights (`POSITIVE_WEIGHTS`) are drawn from [0.5, 1.5]; the others
    from a normal distribution at the weight's own spread (0.5 for constant ones), so deep
    stacks stay in a sane range.
    """
    rng = np.random.default_rng(seed)
    with keras_side():
        for variable in keras_object.weights:
            value = np.asarray(variable)
            if not jnp.issubdtype(value.dtype, jnp.floating):  # bfloat16 included
                continue
            if any(word in variable.name for word in POSITIVE_WEIGHTS):
                new = rng.uniform(0.5, 1.5, value.shape)
            else:
                new = rng.normal(0.0, float(value.astype(np.float32).std()) or 0.5, value.shape)
            variable.assign(new.astype(value.dtype))
    layers = keras_object._flatten_layers() if hasattr(keras_object, "_flatten_layers") else []
    for layer in layers:  # Normalization copies its state into constants only here
        if isinstance(layer, keras.layers.Normalization):
            layer.finalize_state()
    return keras_object


def random_input(shape: Sequence[int], seed: int = 0, batch: int = 5) -> np.ndarray:
    """Standard normal values (negative ones included), float32, with a batch axis."""
    return np.random.default_rng(seed).standard_normal((batch, *shape)).astype(np.float32)


def sequential_spec(
    layers: list[dict[str, Any]], input_shape: Sequence[int], **model: Any
) -> dict[str, Any]:
    return {"kspec": 1, "inputs": {"x": {"shape": list(input_shape)}}, "layers": layers, **model}


def keras_sequential(layers: list[keras.layers.Layer], input_shape: Sequence[int]) -> keras.Model:
    return keras.Sequential([keras.Input(tuple(input_shape)), *layers])


def assert_parity(
    spec: dict[str, Any],
    keras_model: keras.Model,
    inputs: np.ndarray | list[np.ndarray],
    *,
    rtol: float = RTOL,
    atol: float = ATOL,
    functions: dict[str, Callable[..., Any]] | None = None,
    randomize: bool = True,
) -> kspec.Model:
    """Load `spec`, copy `keras_model`'s weights in (Keras order), compare `predict` outputs.

    Keras' weights are randomised first (`randomize_weights`) unless `randomize` is False,
    for a test whose weights were chosen on purpose.

    Also checks that the weight lists agree in length and shapes before copying, so a wrong
    `get_weights` order fails loudly rather than as a numeric mismatch. Returns the kspec model.
    """
    model = kspec.load(spec, functions=functions)
    if randomize:
        randomize_weights(keras_model)
    with keras_side():
        keras_weights = keras_model.get_weights()
        expected = keras_model.predict(inputs, verbose=0)
    ours = [w.shape for w in model.get_weights()]
    assert ours == [w.shape for w in keras_weights], "get_weights shapes differ from Keras"
    model.set_weights(keras_weights)
    actual = model.predict(inputs)
    if isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected)
        for a, e in zip(actual, expected, strict=True):
            np.testing.assert_allclose(a, e, rtol=rtol, atol=atol)
    else:
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)
    return model


def run_layer_case(case: LayerCase, seed: int = 0) -> kspec.Model:
    """Build both sides of a `LayerCase` on a random batch and assert parity."""
    keras.utils.set_random_seed(seed)
    spec = sequential_spec(case.layers, case.input_shape, **case.model)
    with keras_side():
        keras_model = keras_sequential(case.keras_layers(), case.input_shape)
    return assert_parity(spec, keras_model, random_input(case.input_shape, seed))


def assert_random_parity(
    spec: dict[str, Any], keras_model: keras.Model, inputs: list[np.ndarray], seed: int = 0
) -> kspec.Model:
    """`assert_parity` after giving every Keras weight (biases, norms included) standard
    normal values * 0.5, so zero-initialised weights cannot hide a wrong layout."""
    rng = np.random.default_rng(seed)
    with keras_side():
        weights = keras_model.get_weights()
        keras_model.set_weights(
            [rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in weights]
        )
    return assert_parity(spec, keras_model, inputs[0] if len(inputs) == 1 else inputs)
