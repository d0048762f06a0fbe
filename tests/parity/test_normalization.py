"""Parity of the normalization layers with Keras 3: inference over a lean grid (random weights,
moving statistics included), BatchNormalization in training mode (outputs and updated moving
statistics), masks, regularizers, constraints, Keras 1 names and shape errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import kspec
from kspec.errors import KspecDeprecationWarning, SpecError
from tests.parity.harness import (
    ATOL,
    RTOL,
    assert_parity,
    keras_sequential,
    keras_side,
    random_input,
    randomize_weights,
    sequential_spec,
)

L = keras.layers


def _randomized(layers: list[keras.layers.Layer], shape: tuple[int, ...]) -> keras.Model:
    """A Keras model whose every weight is random (variances positive), so parity covers
    gamma, beta and the moving statistics rather than their ones/zeros defaults."""
    with keras_side():
        return randomize_weights(keras_sequential(layers, shape), seed=7)


# Inference: (id, kspec layer, Keras layer factory, input shape without batch) ----------------

INFERENCE = [
    ("bn_default", {"type": "BatchNormalization"}, lambda: L.BatchNormalization(), (4,)),
    ("bn_rank3", {"type": "BatchNormalization"}, lambda: L.BatchNormalization(), (3, 4)),
    (
        "bn_channels_first",
        {"type": "BatchNormalization", "axis": 1},
        lambda: L.BatchNormalization(axis=1),
        (3, 4, 5),
    ),
    (
        "bn_negative_axis",
        {"type": "BatchNormalization", "axis": -2, "epsilon": 0.1},
        lambda: L.BatchNormalization(axis=-2, epsilon=0.1),
        (3, 4),
    ),
    (
        "bn_no_scale",
        {"type": "BatchNormalization", "scale": False},
        lambda: L.BatchNormalization(scale=False),
        (4,),
    ),
    (
        "bn_no_center_no_scale",
        {"type": "BatchNormalization", "center": False, "scale": False},
        lambda: L.BatchNormalization(center=False, scale=False),
        (2, 4),
    ),
    ("ln_default", {"type": "LayerNormalization"}, lambda: L.LayerNormalization(), (3, 4)),
    (
        "ln_axes_list",
        {"type": "LayerNormalization", "axis": [1, 2]},
        lambda: L.LayerNormalization(axis=[1, 2]),
        (3, 4),
    ),
    (
        "ln_middle_axis_no_center",
        {"type": "LayerNormalization", "axis": 1, "center": False, "epsilon": 0.01},
        lambda: L.LayerNormalization(axis=1, center=False, epsilon=0.01),
        (3, 4),
    ),
    (
        "ln_rms_scaling",
        {"type": "LayerNormalization", "axis": [-2, -1], "rms_scaling": True},
        lambda: L.LayerNormalization(axis=[-2, -1], rms_scaling=True),
        (3, 4),
    ),
    (
        "gn_last_axis",
        {"type": "GroupNormalization", "groups": 2},
        lambda: L.GroupNormalization(groups=2),
        (3, 6),
    ),
    (
        "gn_channels_first",
        {"type": "GroupNormalization", "groups": 3, "axis": 1, "center": False},
        lambda: L.GroupNormalization(groups=3, axis=1, center=False),
        (6, 2, 3),
    ),
    (
        "gn_instance",
        {"type": "GroupNormalization", "groups": -1, "scale": False},
        lambda: L.GroupNormalization(groups=-1, scale=False),
        (5, 4),
    ),
    ("unit_last", {"type": "UnitNormalization"}, lambda: L.UnitNormalization(), (3, 4)),
    (
        "unit_axes",
        {"type": "UnitNormalization", "axis": [1, 2]},
        lambda: L.UnitNormalization(axis=[1, 2]),
        (3, 4),
    ),
    ("rms_last", {"type": "RMSNormalization"}, lambda: L.RMSNormalization(), (3, 4)),
    (
        "rms_trailing_axes",
        {"type": "RMSNormalization", "axis": [1, 2], "epsilon": 0.1},
        lambda: L.RMSNormalization(axis=[1, 2], epsilon=0.1),
        (3, 4),
    ),
]


@pytest.mark.parametrize(
    ("layer", "keras_layer", "shape"), [c[1:] for c in INFERENCE], ids=[c[0] for c in INFERENCE]
)
def test_inference_parity(layer: dict[str, Any], keras_layer: Any, shape: tuple[int, ...]) -> None:
    keras_model = _randomized([keras_layer()], shape)
    x = random_input(shape, seed=1) * 3.0 + 1.0  # statistics far from the defaults
    assert_parity(sequential_spec([layer], shape), keras_model, x)


def test_layer_normalization_weights_take_the_axes_shape() -> None:
    model = kspec.load(sequential_spec([{"type": "LayerNormalization", "axis": [1, 2]}], (3, 4)))
    model.init(0)
    assert [w.shape for w in model.get_weights()] == [(3, 4), (3, 4)]


# BatchNormalization in training mode ----------------------------------------------------------

TRAINING = [
    ({"momentum": 0.9}, (4,)),
    ({"axis": 1, "momentum": 0.5, "epsilon": 0.01}, (3, 4, 5)),
    ({"center": False, "scale": False}, (2, 3)),
]


@pytest.mark.parametrize(("params", "shape"), TRAINING, ids=["dense", "channels_first", "bare"])
def test_batchnorm_training_output_and_moving_stats(
    params: dict[str, Any], shape: tuple[int, ...]
) -> None:
    keras_model = _randomized([L.BatchNormalization(**params)], shape)
    x = random_input(shape, seed=2, batch=8) * 2.0 - 0.5
    model = kspec.load(sequential_spec([{"type": "BatchNormalization", **params}], shape))
    model.init(0)
    with keras_side():
        model.set_weights(keras_model.get_weights())
        expected = np.asarray(keras_model(x, training=True))
        layer = keras_model.layers[0]
        moving = [np.asarray(layer.moving_mean), np.asarray(layer.moving_variance)]
    before = model.variables
    y, aux = jax.jit(lambda v, x: model.apply(v, x, training=True, return_aux=True))(before, x)
    np.testing.assert_allclose(np.asarray(y), expected, rtol=RTOL, atol=ATOL)
    state = aux.state["batch_normalization"]
    np.testing.assert_allclose(np.asarray(state["moving_mean"]), moving[0], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(
        np.asarray(state["moving_variance"]), moving[1], rtol=RTOL, atol=ATOL
    )
    # Inference leaves the state as it was, and uses it.
    _, aux = model.apply(before, x, training=False, return_aux=True)
    assert aux.state == before["state"]


def test_batchnorm_masked_training_matches_keras() -> None:
    """Masked timesteps do not count in the batch moments (Keras' weighted moments)."""
    x = random_input((5, 3), seed=3, batch=4)
    x[0, 3:] = 0.0
    x[2, 1:] = 0.0
    keras_model = _randomized([L.Masking(0.0), L.BatchNormalization(momentum=0.8)], (5, 3))
    spec = sequential_spec(
        [{"type": "Masking"}, {"type": "BatchNormalization", "momentum": 0.8}], (5, 3)
    )
    model = kspec.load(spec)
    model.init(0)
    with keras_side():
        model.set_weights(keras_model.get_weights())
        expected = np.asarray(keras_model(x, training=True))
        moving_mean = np.asarray(keras_model.layers[1].moving_mean)
    y, aux = model.apply(model.variables, x, training=True, return_aux=True)
    np.testing.assert_allclose(np.asarray(y), expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(
        np.asarray(aux.state["batch_normalization"]["moving_mean"]), moving_mean, rtol=RTOL
    )


def test_frozen_batchnorm_uses_moving_stats_in_training() -> None:
    keras_model = _randomized([L.BatchNormalization(trainable=False)], (4,))
    x = random_input((4,), seed=4)
    model = kspec.load(sequential_spec([{"type": "BatchNormalization", "trainable": False}], (4,)))
    model.init(0)
    with keras_side():
        model.set_weights(keras_model.get_weights())
        expected = np.asarray(keras_model(x, training=True))
    y, aux = model.apply(model.variables, x, training=True, return_aux=True)
    np.testing.assert_allclose(np.asarray(y), expected, rtol=RTOL, atol=ATOL)
    assert aux.state == model.variables["state"]


# Regularizers and constraints on gamma and beta -----------------------------------------------


@pytest.mark.parametrize("type_name", ["BatchNormalization", "LayerNormalization"])
def test_gamma_beta_regularizers_match_keras_losses(type_name: str) -> None:
    params = {"gamma_regularizer": {"l2": 0.1}, "beta_regularizer": {"l1": 0.2}}
    regularizers = {
        "gamma_regularizer": keras.regularizers.L2(0.1),
        "beta_regularizer": keras.regularizers.L1(0.2),
    }
    keras_model = _randomized([getattr(L, type_name)(**regularizers)], (4,))
    model = kspec.load(sequential_spec([{"type": type_name, **params}], (4,)))
    model.init(0)
    x = random_input((4,))
    with keras_side():
        model.set_weights(keras_model.get_weights())
        keras_model(x, training=True)
        expected = float(sum(np.asarray(loss) for loss in keras_model.losses))
    _, aux = model.apply(model.variables, x, training=True, return_aux=True)
    assert expected > 0.0
    np.testing.assert_allclose(float(aux.loss), expected, rtol=RTOL)


def test_gamma_beta_constraints_match_keras() -> None:
    params = {"gamma_constraint": "non_neg", "beta_constraint": {"max_norm": {"max_value": 0.5}}}
    constraints = {
        "gamma_constraint": keras.constraints.NonNeg(),
        "beta_constraint": keras.constraints.MaxNorm(0.5),
    }
    keras_model = _randomized([L.GroupNormalization(groups=2, **constraints)], (4,))
    layer = {"type": "GroupNormalization", "groups": 2, **params}
    model = kspec.load(sequential_spec([layer], (4,)))
    model.init(0)
    with keras_side():
        model.set_weights(keras_model.get_weights())
        layer = keras_model.layers[0]
        expected = [np.asarray(layer.gamma_constraint(layer.gamma.value))]
        expected.append(np.asarray(layer.beta_constraint(layer.beta.value)))
    constrained = model.compiled.constrain(model.variables["params"])["group_normalization"]
    for ours, theirs in zip([constrained["gamma"], constrained["beta"]], expected, strict=True):
        np.testing.assert_allclose(np.asarray(ours), theirs, rtol=RTOL, atol=ATOL)


# Keras 1 and shape errors ---------------------------------------------------------------------


def test_keras1_batchnorm_mode0_and_init_aliases() -> None:
    text = (
        "kspec: 1\ninputs: {x: [4]}\nlayers:\n"
        "  - {type: BatchNormalization, mode: 0, beta_init: one, gamma_init: zero}\n"
    )
    with pytest.warns(KspecDeprecationWarning) as record:
        model = kspec.load(text)
    messages = [str(w.message) for w in record]
    mode = "<string>:4:32: node 'batch_normalization': BatchNormalization: `mode=0` is a Keras 1"
    assert any(m.startswith(mode) for m in messages), messages
    assert any("`beta_init` is a Keras 1 name; use `beta_initializer`" in m for m in messages)
    variables = model.init(0)["params"]["batch_normalization"]
    np.testing.assert_array_equal(np.asarray(variables["beta"]), np.ones(4))
    np.testing.assert_array_equal(np.asarray(variables["gamma"]), np.zeros(4))


@pytest.mark.parametrize("mode", [1, 2])
def test_keras1_batchnorm_modes_1_and_2_are_located_errors(mode: int) -> None:
    layer = "{type: BatchNormalization, mode: " + str(mode) + "}"
    text = f"kspec: 1\ninputs: {{x: [4]}}\nlayers:\n  - {layer}\n"
    with pytest.raises(SpecError) as info:
        kspec.load(text)
    (diagnostic,) = info.value.diagnostics
    assert str(diagnostic.location).startswith("<string>:4:")
    assert diagnostic.node == "batch_normalization"
    assert f"Keras 1 BatchNormalization mode={mode}" in diagnostic.message
    assert "only mode=0" in diagnostic.message


SHAPE_ERRORS = [
    (
        {"type": "GroupNormalization", "groups": 4},
        (6,),
        "The number of channels (6) must be a multiple of the number of groups (4). "
        "Received: groups=4, shape=(None, 6)",
    ),
    (
        {"type": "GroupNormalization"},
        (3, 8),
        "Number of groups (32) cannot be more than the number of channels (8). "
        "Received: groups=32, shape=(None, 3, 8)",
    ),
    (
        {"type": "BatchNormalization", "axis": 2},
        (4,),
        "Axis 2 is out of bounds for input shape (None, 4). Received: axis=2",
    ),
    (
        {"type": "LayerNormalization", "axis": [1, -4]},
        (3, 4),
        "Axis -4 is out of bounds for input shape (None, 3, 4). Received: axis=[1, -4]",
    ),
    (
        {"type": "LayerNormalization", "axis": 1},
        (None, 4),
        "LayerNormalization needs a known size on axis 1. Received: shape=(None, None, 4)",
    ),
]


@pytest.mark.parametrize(("layer", "shape", "message"), SHAPE_ERRORS)
def test_shape_errors_are_exact(
    layer: dict[str, Any], shape: tuple[int, ...], message: str
) -> None:
    with pytest.raises(SpecError) as info:
        kspec.load(sequential_spec([layer], shape))
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.message == message


def test_normalization_runs_in_bfloat16_and_leaves_in_the_compute_dtype() -> None:
    """A bfloat16 input is normalized in float32 and leaves in the layer's compute dtype, as
    Keras casts it: float32 under the default policy, bfloat16 under `bfloat16`
    (tests/parity/test_precision.py compares the policies with Keras)."""
    for policy, out in (("float32", jnp.float32), ("bfloat16", jnp.bfloat16)):
        spec = sequential_spec([{"type": "LayerNormalization"}], (8,), dtype_policy=policy)
        spec["inputs"]["x"]["dtype"] = "bfloat16"
        model = kspec.load(spec)
        model.init(0)
        y = model.apply(model.variables, jnp.ones((2, 8)) * jnp.arange(8.0)[None, :])
        assert y.dtype == out
        np.testing.assert_allclose(np.asarray(jnp.mean(y.astype(jnp.float32), -1)), 0.0, atol=1e-2)


# The bundled ResNet-style example, end to end ---------------------------------------------------


def _keras_resnet_small() -> keras.Model:
    """examples/resnet_small.yaml written in Keras (on 8x8 images)."""

    def conv(name: str) -> keras.layers.Layer:
        return L.Conv2D(16, 3, padding="same", use_bias=False, name=name)

    image = keras.Input((8, 8, 3), name="image")
    out = L.ReLU(name="stem_relu")(L.BatchNormalization(name="stem_bn")(conv("stem")(image)))
    for block in ("block1", "block2"):
        h = L.BatchNormalization(name=f"{block}_bn1")(conv(f"{block}_conv1")(out))
        h = L.ReLU(name=f"{block}_relu1")(h)
        h = L.BatchNormalization(name=f"{block}_bn2")(conv(f"{block}_conv2")(h))
        out = L.ReLU(name=f"{block}_out")(L.Add(name=f"{block}_add")([h, out]))
    pooled = L.GlobalAveragePooling2D(name="pool")(out)
    probs = L.Dense(10, activation="softmax", name="classifier")(pooled)
    return keras.Model(image, probs)


def test_resnet_small_example_matches_keras_at_inference_and_in_training() -> None:
    root = Path(__file__).resolve().parents[2]
    with keras_side():
        keras.utils.set_random_seed(0)
        keras_model = _keras_resnet_small()
    rng = np.random.default_rng(5)
    with keras_side():  # non-trivial moving statistics in every BatchNormalization
        for variable in keras_model.non_trainable_weights:
            value = rng.uniform(0.5, 1.5, variable.shape) if "variance" in variable.path else 0.1
            variable.assign(np.broadcast_to(value, variable.shape).astype(np.float32))
    x = random_input((8, 8, 3), seed=6, batch=4)
    text = (root / "examples" / "resnet_small.yaml").read_text()
    text = text.replace("shape: [32, 32, 3]", "shape: [8, 8, 3]")  # smaller images: faster
    model = assert_parity(text, keras_model, x)
    with keras_side():
        expected = np.asarray(keras_model(x, training=True))
        moving = {v.path: np.asarray(v) for v in keras_model.non_trainable_weights}
    y, aux = model.apply(model.variables, x, training=True, return_aux=True)
    np.testing.assert_allclose(np.asarray(y), expected, rtol=RTOL, atol=ATOL)
    for path, value in moving.items():
        layer, weight = path.split("/")
        np.testing.assert_allclose(
            np.asarray(aux.state[layer][weight]), value, rtol=RTOL, atol=ATOL
        )
