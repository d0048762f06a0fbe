"""Parity of the advanced activation layers with Keras 3 (ThresholdedReLU: NumPy, as Keras 3
dropped it), including PReLU's weights and Softmax's masks."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest

import kspec
from kspec.errors import KspecDeprecationWarning
from tests.parity.harness import (
    RTOL,
    LayerCase,
    assert_parity,
    keras_sequential,
    keras_side,
    random_input,
    run_layer_case,
    sequential_spec,
)

L = keras.layers


def _case(id: str, layer: dict[str, Any], keras_layer: Any, shape: tuple[int, ...]) -> LayerCase:
    return LayerCase(id, [layer], lambda: [keras_layer()], shape)


CASES = [
    _case("relu", {"type": "ReLU"}, L.ReLU, (3, 4)),
    _case("relu_max", {"type": "ReLU", "max_value": 0.7}, lambda: L.ReLU(max_value=0.7), (6,)),
    _case("relu6", {"type": "ReLU", "max_value": 6.0}, lambda: L.ReLU(max_value=6.0), (6,)),
    _case(
        "relu_slope",
        {"type": "ReLU", "negative_slope": 0.2},
        lambda: L.ReLU(negative_slope=0.2),
        (6,),
    ),
    _case(
        "relu_all",
        {"type": "ReLU", "max_value": 1.2, "negative_slope": 0.1, "threshold": 0.3},
        lambda: L.ReLU(max_value=1.2, negative_slope=0.1, threshold=0.3),
        (4, 5),
    ),
    _case(
        "relu_threshold",
        {"type": "ReLU", "threshold": 0.5},
        lambda: L.ReLU(threshold=0.5),
        (8,),
    ),
    _case("leaky_default", {"type": "LeakyReLU"}, L.LeakyReLU, (6,)),
    _case(
        "leaky_slope",
        {"type": "LeakyReLU", "negative_slope": 0.01},
        lambda: L.LeakyReLU(negative_slope=0.01),
        (2, 3),
    ),
    _case("elu", {"type": "ELU"}, L.ELU, (6,)),
    _case("elu_alpha", {"type": "ELU", "alpha": 0.4}, lambda: L.ELU(alpha=0.4), (6,)),
    _case("softmax", {"type": "Softmax"}, L.Softmax, (3, 4)),
    _case("softmax_axis1", {"type": "Softmax", "axis": 1}, lambda: L.Softmax(axis=1), (3, 4)),
    _case(
        "softmax_axes",
        {"type": "Softmax", "axis": [1, 2]},
        lambda: L.Softmax(axis=[1, 2]),
        (3, 4),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_activation_layer_parity(case: LayerCase) -> None:
    run_layer_case(case)


PRELU = [
    ("plain", {}, (4,)),
    ("rank3", {}, (3, 4)),
    ("shared_12", {"shared_axes": [1, 2]}, (3, 4, 2)),
    ("shared_int", {"shared_axes": 1}, (3, 4)),
]


@pytest.mark.parametrize(("params", "shape"), [p[1:] for p in PRELU], ids=[p[0] for p in PRELU])
def test_prelu_weights_and_output(params: dict[str, Any], shape: tuple[int, ...]) -> None:
    """Keras initialises alpha to zeros: random alphas are set first so the slope counts."""
    with keras_side():
        model = keras_sequential([L.PReLU(**params)], shape)
        rng = np.random.default_rng(0)
        model.set_weights([rng.uniform(0.1, 0.9, w.shape) for w in model.get_weights()])
    ours = assert_parity(
        sequential_spec([{"type": "PReLU", **params}], shape), model, random_input(shape)
    )
    assert ours.get_layer("p_re_lu").weight_names() == ["alpha"]


def test_prelu_regularizer_initializer_and_keras1_init() -> None:
    layer = {"type": "PReLU", "init": "ones", "alpha_regularizer": {"l2": 0.1}}
    with pytest.warns(KspecDeprecationWarning, match="use `alpha_initializer`"):
        model = kspec.load(sequential_spec([layer], (3,)))
    alpha = np.asarray(model.variables["params"]["p_re_lu"]["alpha"])
    np.testing.assert_array_equal(alpha, np.ones(3))
    penalty = float(model.compiled.weight_penalty(model.variables["params"]))
    with keras_side():
        expected = float(keras.regularizers.L2(0.1)(np.ones(3, np.float32)))
    np.testing.assert_allclose(penalty, expected, rtol=RTOL)


def test_leaky_relu_keras2_alpha_alias() -> None:
    with pytest.warns(KspecDeprecationWarning, match="use `negative_slope`"):
        model = kspec.load(sequential_spec([{"type": "LeakyReLU", "alpha": 0.1}], (2,)))
    np.testing.assert_allclose(model.predict(np.array([[-2.0, 3.0]], np.float32)), [[-0.2, 3.0]])


@pytest.mark.parametrize("theta", [1.0, 0.0, 0.3])
def test_thresholded_relu_numpy_reference(theta: float) -> None:
    x = random_input((4, 5), seed=3)
    x[0, 0, :3] = [theta, theta + 1e-3, -theta]
    layer = (
        {"type": "ThresholdedReLU"} if theta == 1.0 else {"type": "ThresholdedReLU", "theta": theta}
    )
    model = kspec.load(sequential_spec([layer], (4, 5)))
    np.testing.assert_array_equal(model.predict(x), np.where(x > theta, x, 0.0))
    assert model.layer_names == ["thresholded_re_lu"]


def test_default_names_are_keras_snake_case() -> None:
    layers = [{"type": t} for t in ("ReLU", "PReLU", "LeakyReLU", "ELU", "Softmax")]
    model = kspec.load(sequential_spec(layers, (3,)))
    assert model.layer_names == ["re_lu", "p_re_lu", "leaky_re_lu", "elu", "softmax"]


def test_softmax_masked_by_masking() -> None:
    """Keras aligns the (batch, steps) mask on the right of the input: with batch = steps =
    features = 4 that is well defined; masked positions get probability 0."""
    x = random_input((4, 4), seed=5, batch=4)
    x[0, 1] = 0.0
    x[2, 3] = 0.0
    spec = sequential_spec([{"type": "Masking"}, {"type": "Softmax", "axis": 1}], (4, 4))
    with keras_side():
        model = keras_sequential([L.Masking(), L.Softmax(axis=1)], (4, 4))
    ours = assert_parity(spec, model, x)
    # mask[b, t] lands on x[:, b, t]: sample 0's masked step 1 zeroes [:, 0, 1] everywhere
    assert (ours.predict(x)[:, 0, 1] == 0).all()


def test_softmax_explicit_mask_input() -> None:
    """A second input is the mask (> 0.5 keeps), as `Softmax()(x, mask=m)` in Keras."""
    with keras_side():
        x_in, m_in = keras.Input((3, 4)), keras.Input((3, 4))
        model = keras.Model([x_in, m_in], L.Softmax()(x_in, mask=m_in))
    spec = {
        "kspec": 1,
        "inputs": {"x": {"shape": [3, 4]}, "m": {"shape": [3, 4]}},
        "layers": [{"type": "Softmax", "inputs": ["x", "m"]}],
    }
    x = random_input((3, 4), seed=6)
    m = (np.random.default_rng(7).uniform(size=x.shape) > 0.3).astype(np.float32)
    m[0, 0] = 0.0  # a fully masked row: all zeros, not uniform
    ours = assert_parity(spec, model, [x, m])
    np.testing.assert_array_equal(ours.predict([x, m])[0, 0], 0.0)
