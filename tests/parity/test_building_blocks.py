"""Parity of the building blocks with Keras 3: initializer distributions and exact properties,
and the order of `get_weights` on Sequential and branching functional models."""

from __future__ import annotations

from typing import Any

import jax
import keras
import numpy as np
import pytest
from pydantic import TypeAdapter

from kspec.compiler.initializers import initialize
from kspec.schemas.fields import Initializer
from tests.parity.harness import assert_parity, keras_side, random_input

L = keras.layers
_parse = TypeAdapter(Initializer).validate_python


def _ours(value: Any, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.asarray(initialize(_parse(value), jax.random.PRNGKey(seed), shape))


def _theirs(initializer: keras.initializers.Initializer, shape: tuple[int, ...]) -> np.ndarray:
    with keras_side():
        keras.utils.set_random_seed(0)  # a fixed Keras draw: the test is deterministic
        return np.asarray(initializer(shape))


# Distributions: statistics of a large draw against Keras' own draw ---------------------------

# Sizes chosen so the tolerances below are >= 5 standard errors of the compared statistics.
STAT_SHAPE = (3, 3, 64, 128)  # a conv kernel: fans include the 3x3 receptive field; 73,728 values
DENSE_SHAPE = (300, 400)

DISTRIBUTIONS = [
    ("glorot_uniform", keras.initializers.GlorotUniform, True),
    ("glorot_normal", keras.initializers.GlorotNormal, True),
    ("he_uniform", keras.initializers.HeUniform, True),
    ("he_normal", keras.initializers.HeNormal, True),
    ("lecun_uniform", keras.initializers.LecunUniform, True),
    ("lecun_normal", keras.initializers.LecunNormal, True),
    ("random_normal", keras.initializers.RandomNormal, False),
    (
        {"RandomNormal": {"mean": 0.5, "stddev": 2.0}},
        lambda: keras.initializers.RandomNormal(0.5, 2.0),
        False,
    ),
    ("random_uniform", keras.initializers.RandomUniform, True),
    (
        {"RandomUniform": {"minval": -1.0, "maxval": 3.0}},
        lambda: keras.initializers.RandomUniform(-1.0, 3.0),
        True,
    ),
    ("truncated_normal", keras.initializers.TruncatedNormal, True),
    (
        {"TruncatedNormal": {"mean": 1.0, "stddev": 0.5}},
        lambda: keras.initializers.TruncatedNormal(1.0, 0.5),
        True,
    ),
    ("variance_scaling", keras.initializers.VarianceScaling, True),
    (
        {"VarianceScaling": {"scale": 2.0, "mode": "fan_out", "distribution": "uniform"}},
        lambda: keras.initializers.VarianceScaling(2.0, "fan_out", "uniform"),
        True,
    ),
    (
        {
            "VarianceScaling": {
                "scale": 0.5,
                "mode": "fan_avg",
                "distribution": "untruncated_normal",
            }
        },
        lambda: keras.initializers.VarianceScaling(0.5, "fan_avg", "untruncated_normal"),
        False,
    ),
    (
        {"class_name": "VarianceScaling", "config": {"scale": 3.0, "mode": "fan_in"}},
        lambda: keras.initializers.VarianceScaling(3.0, "fan_in"),
        True,
    ),
    ("orthogonal", keras.initializers.Orthogonal, False),
]


@pytest.mark.parametrize("shape", [STAT_SHAPE, DENSE_SHAPE], ids=["conv", "dense"])
@pytest.mark.parametrize(
    ("ours", "theirs", "bounded"), DISTRIBUTIONS, ids=[str(d[0]) for d in DISTRIBUTIONS]
)
def test_initializer_statistics_match_keras(
    ours: Any, theirs: Any, bounded: bool, shape: tuple[int, ...]
) -> None:
    """Mean, std and quantiles within a few standard errors of Keras' draw; for bounded
    distributions the extremes agree too (both draws get within ~0.5% of the bound)."""
    a, b = _ours(ours, shape).ravel(), _theirs(theirs(), shape).ravel()
    n, std = a.size, b.std()
    assert abs(a.mean() - b.mean()) < 6 * std * np.sqrt(2 / n)
    np.testing.assert_allclose(a.std(), std, rtol=0.03)
    quantiles = [0.05, 0.25, 0.5, 0.75, 0.95]
    np.testing.assert_allclose(
        np.quantile(a, quantiles), np.quantile(b, quantiles), atol=0.06 * std
    )
    if bounded:
        np.testing.assert_allclose([a.min(), a.max()], [b.min(), b.max()], atol=0.05 * std)


EXACT = [
    ("zeros", keras.initializers.Zeros()),
    ("ones", keras.initializers.Ones()),
    ({"Constant": {"value": 0.7}}, keras.initializers.Constant(0.7)),
    ({"constant": -2.0}, keras.initializers.Constant(-2.0)),
    ("identity", keras.initializers.Identity()),
    ({"Identity": {"gain": 3.0}}, keras.initializers.Identity(3.0)),
]


@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (6, 2)])
@pytest.mark.parametrize(("ours", "theirs"), EXACT, ids=[str(e[0]) for e in EXACT])
def test_deterministic_initializers_equal_keras(
    ours: Any, theirs: Any, shape: tuple[int, ...]
) -> None:
    np.testing.assert_array_equal(_ours(ours, shape), _theirs(theirs, shape))


@pytest.mark.parametrize("gain", [1.0, 2.5])
@pytest.mark.parametrize(
    "shape", [(40, 40), (60, 25), (25, 60), (3, 10, 20)], ids=["square", "tall", "wide", "rank3"]
)
def test_orthogonal_is_orthogonal(shape: tuple[int, ...], gain: float) -> None:
    """The smaller side is orthonormal times gain: Q^T Q (tall) or Q Q^T (wide) = gain^2 I."""
    for q in (
        _ours({"Orthogonal": {"gain": gain}}, shape),
        _theirs(keras.initializers.Orthogonal(gain), shape),
    ):
        assert q.shape == shape
        flat = q.reshape(-1, shape[-1])
        gram = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
        np.testing.assert_allclose(gram, gain**2 * np.eye(len(gram)), atol=1e-5 * gain**2)


def test_seeded_initializer_is_deterministic() -> None:
    a = _ours({"GlorotUniform": {"seed": 7}}, (5, 6), seed=0)
    b = _ours({"GlorotUniform": {"seed": 7}}, (5, 6), seed=1)  # the seed replaces the key
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, _ours({"GlorotUniform": {"seed": 8}}, (5, 6)))


# get_weights order -----------------------------------------------------------------------------


def test_sequential_weight_order() -> None:
    spec = {
        "kspec": 1,
        "inputs": {"x": {"shape": [6]}},
        "layers": [
            {"type": "Dense", "units": 5, "activation": "relu"},
            {"type": "Dropout", "rate": 0.3},
            {"type": "Dense", "units": 4, "use_bias": False},
            {"type": "Activation", "activation": "tanh"},
            {"type": "Dense", "units": 3},
        ],
    }
    with keras_side():
        keras.utils.set_random_seed(1)
        keras_model = keras.Sequential(
            [
                keras.Input((6,)),
                L.Dense(5, activation="relu"),
                L.Dropout(0.3),
                L.Dense(4, use_bias=False),
                L.Activation("tanh"),
                L.Dense(3),
            ]
        )
    assert_parity(spec, keras_model, random_input((6,), batch=9))


# Branches of lengths 4, 1 and 2 from two inputs; `shared` applied on two branches; three
# outputs, listed so that the walk back from the outputs meets the layers out of list order.
FUNCTIONAL_SPEC = {
    "kspec": 1,
    "inputs": {"a": {"shape": [8]}, "b": {"shape": [6]}},
    "layers": [
        {"type": "Dense", "name": "a1", "units": 16, "activation": "relu", "inputs": ["a"]},
        {"type": "Dense", "name": "a2", "units": 12, "activation": "tanh", "inputs": ["a1"]},
        {"type": "Dense", "name": "a3", "units": 10, "inputs": ["a2"]},
        {"type": "Dense", "name": "b1", "units": 10, "use_bias": False, "inputs": ["b"]},
        {"type": "Dense", "name": "shared", "units": 5, "activation": "sigmoid", "inputs": ["a3"]},
        {"shares": "shared", "name": "shared_b", "inputs": ["b1"]},
        {
            "type": "Lambda",
            "name": "merge",
            "expression": "x0 + x1",
            "inputs": ["shared", "shared_b"],
        },
        {"type": "Dense", "name": "head", "units": 2, "inputs": ["merge"]},
        {"type": "Dense", "name": "side", "units": 7, "inputs": ["a1"]},
        {"type": "Dense", "name": "side2", "units": 3, "inputs": ["side"]},
    ],
    "outputs": ["side2", "head", "shared_b"],
}


def _keras_functional(outputs: list[str]) -> keras.Model:
    a, b = keras.Input((8,), name="a"), keras.Input((6,), name="b")
    a1 = L.Dense(16, activation="relu", name="a1")(a)
    a3 = L.Dense(10, name="a3")(L.Dense(12, activation="tanh", name="a2")(a1))
    b1 = L.Dense(10, use_bias=False, name="b1")(b)
    shared = L.Dense(5, activation="sigmoid", name="shared")
    sa, sb = shared(a3), shared(b1)
    head = L.Dense(2, name="head")(L.Add(name="merge")([sa, sb]))
    side2 = L.Dense(3, name="side2")(L.Dense(7, name="side")(a1))
    tensors = {"side2": side2, "head": head, "shared_b": sb}
    return keras.Model([a, b], [tensors[name] for name in outputs])


def _listed_differently(spec: dict[str, Any]) -> dict[str, Any]:
    """The same graph with its nodes listed in another (still topological) order."""
    by_name = {node["name"]: node for node in spec["layers"]}
    order = ["b1", "a1", "side", "side2", "a2", "a3", "shared", "shared_b", "merge", "head"]
    return {**spec, "layers": [by_name[name] for name in order]}


@pytest.mark.parametrize("listing", [dict, _listed_differently], ids=["as_built", "relisted"])
@pytest.mark.parametrize("outputs", [["side2", "head", "shared_b"], ["head", "shared_b", "side2"]])
def test_functional_weight_order_and_outputs(outputs: list[str], listing: Any) -> None:
    """Keras orders layers by depth, then by the walk back from the outputs, not by listing."""
    with keras_side():
        keras.utils.set_random_seed(2)
        keras_model = _keras_functional(outputs)
        keras_order = [layer.name for layer in keras_model.layers if layer.weights]
    inputs = [random_input((8,), seed=1, batch=6), random_input((6,), seed=2, batch=6)]
    model = assert_parity(listing({**FUNCTIONAL_SPEC, "outputs": outputs}), keras_model, inputs)
    ours = [name for name in model.layer_names if model.get_layer(name).get_weights()]
    assert ours == keras_order
