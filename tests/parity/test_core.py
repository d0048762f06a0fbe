"""Parity of the core layers with Keras 3: outputs, masks, losses, constraints, dropout."""

from __future__ import annotations

import math
import typing

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import kspec
from kspec.schemas.fields import ActivationName
from tests.parity.harness import (
    ATOL,
    RTOL,
    LayerCase,
    assert_parity,
    keras_sequential,
    keras_side,
    random_input,
    randomize_weights,
    run_layer_case,
    sequential_spec,
)

L = keras.layers

# Layers with weights or a reshaping rule: one table, one harness call per row -----------------

CASES = [
    LayerCase(
        "dense_relu",
        [{"type": "Dense", "units": 3, "activation": "relu"}],
        lambda: [L.Dense(3, activation="relu")],
        (4,),
    ),
    LayerCase(
        "dense_tanh_no_bias",
        [{"type": "Dense", "units": 5, "activation": "tanh", "use_bias": False}],
        lambda: [L.Dense(5, activation="tanh", use_bias=False)],
        (4,),
    ),
    LayerCase(
        "dense_rank3_softmax",
        [{"type": "Dense", "units": 6, "activation": "softmax"}],
        lambda: [L.Dense(6, activation="softmax")],
        (3, 4),
    ),
    LayerCase(
        "dense_rank4_gelu",
        [{"type": "Dense", "units": 2, "activation": "gelu"}],
        lambda: [L.Dense(2, activation="gelu")],
        (2, 3, 4),
    ),
    LayerCase(
        "dense_glu_halves_units",
        [{"type": "Dense", "units": 6, "activation": "glu"}],
        lambda: [L.Dense(6, activation="glu")],
        (4,),
    ),
    LayerCase(
        "dense_stack",
        [
            {"type": "Dense", "units": 8, "activation": "selu"},
            {"type": "Dense", "units": 3, "activation": "sigmoid"},
        ],
        lambda: [L.Dense(8, activation="selu"), L.Dense(3, activation="sigmoid")],
        (5,),
    ),
    LayerCase(
        "activation_layer",
        [{"type": "Activation", "activation": "leaky_relu"}],
        lambda: [L.Activation("leaky_relu")],
        (3, 4),
    ),
    LayerCase(
        "dropout_inference", [{"type": "Dropout", "rate": 0.5}], lambda: [L.Dropout(0.5)], (6,)
    ),
    LayerCase("flatten_last", [{"type": "Flatten"}], lambda: [L.Flatten()], (3, 4, 5)),
    LayerCase(
        "flatten_channels_first",
        [{"type": "Flatten", "data_format": "channels_first"}],
        lambda: [L.Flatten(data_format="channels_first")],
        (3, 4, 5),
    ),
    LayerCase(
        "flatten_model_channels_first",
        [{"type": "Flatten"}],
        lambda: [L.Flatten(data_format="channels_first")],
        (2, 3, 4),
        model={"data_format": "channels_first"},
    ),
    LayerCase(
        "flatten_rank3_channels_first",
        [{"type": "Flatten", "data_format": "channels_first"}],
        lambda: [L.Flatten(data_format="channels_first")],
        (3, 4),
    ),
    LayerCase(
        "reshape",
        [{"type": "Reshape", "target_shape": [6, 2]}],
        lambda: [L.Reshape((6, 2))],
        (3, 4),
    ),
    LayerCase(
        "reshape_infer_last",
        [{"type": "Reshape", "target_shape": [2, -1]}],
        lambda: [L.Reshape((2, -1))],
        (3, 4),
    ),
    LayerCase(
        "reshape_infer_middle",
        [{"type": "Reshape", "target_shape": [2, -1, 3]}],
        lambda: [L.Reshape((2, -1, 3))],
        (12,),
    ),
    LayerCase(
        "permute_2d", [{"type": "Permute", "dims": [2, 1]}], lambda: [L.Permute((2, 1))], (3, 4)
    ),
    LayerCase(
        "permute_3d",
        [{"type": "Permute", "dims": [3, 1, 2]}],
        lambda: [L.Permute((3, 1, 2))],
        (2, 3, 4),
    ),
    LayerCase(
        "repeat_vector", [{"type": "RepeatVector", "n": 3}], lambda: [L.RepeatVector(3)], (4,)
    ),
    LayerCase(
        "dense_then_repeat",
        [{"type": "Dense", "units": 2}, {"type": "RepeatVector", "n": 4}],
        lambda: [L.Dense(2), L.RepeatVector(4)],
        (3,),
    ),
    LayerCase(
        "lambda_square",
        [{"type": "Lambda", "expression": "x ** 2"}],
        lambda: [L.Lambda(lambda x: x**2)],
        (3, 4),
    ),
    LayerCase(
        "activity_regularization",
        [{"type": "ActivityRegularization", "l1": 0.01, "l2": 0.1}],
        lambda: [L.ActivityRegularization(l1=0.01, l2=0.1)],
        (4,),
    ),
    LayerCase(
        "masking", [{"type": "Masking", "mask_value": 0.0}], lambda: [L.Masking(0.0)], (3, 4)
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_layer_parity(case: LayerCase) -> None:
    run_layer_case(case)


# Activations: every name kspec accepts, against keras.activations.get(name) --------------------

ACTIVATION_NAMES = typing.get_args(ActivationName)
_EDGES = np.array([-6, -3, -1, -0.5, 0, 0.5, 1, 3, 6, -2.5, 2.5, 0.25], np.float32)


def _activation_input() -> np.ndarray:
    """Normal values scaled to cover thresholds and saturation, plus the edges themselves."""
    x = 3.0 * random_input((4, 12), seed=1)
    x[0, 0] = _EDGES
    x[1] *= 0.05  # close values: sparsemax keeps many in its support, softmax is near-uniform
    return x


def _sparsemax_reference(x: np.ndarray) -> np.ndarray:
    """Martins & Astudillo (2016), Alg. 1: tau = (cumsum[k] - 1) / k over the support k.

    Keras 3.15 sums every cumulative sum in the support instead (keras-team/keras#23425, fixed
    upstream by #23469), so its output does not sum to 1; kspec follows the algorithm."""
    z = -np.sort(-x, axis=-1)
    cumsum = np.cumsum(z, axis=-1)
    r = np.arange(1, x.shape[-1] + 1)
    k = np.sum(1 + r * z > cumsum, axis=-1, keepdims=True)
    tau = (np.take_along_axis(cumsum, k - 1, axis=-1) - 1) / k
    return np.maximum(x - tau, 0.0)


_NOT_KERAS = {"sparsemax": _sparsemax_reference}  # Keras-version bugs: reference instead


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_activation_matches_keras(name: str) -> None:
    x = _activation_input()
    if name in _NOT_KERAS:
        expected = _NOT_KERAS[name](x)
        np.testing.assert_allclose(expected.sum(axis=-1), 1.0, rtol=RTOL)
    else:
        with keras_side():
            expected = np.asarray(keras.activations.get(name)(x))
    model = kspec.load(sequential_spec([{"type": "Activation", "activation": name}], x.shape[1:]))
    actual = model.predict(x)
    assert actual.shape == expected.shape
    assert model.output_shape == (None, *expected.shape[1:])
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)


def test_activation_defaults_follow_keras_3() -> None:
    """Surprising defaults stated explicitly: leaky_relu slope 0.2, exact (erf) gelu."""
    x = np.array([[-1.0, 1.0]], np.float32)
    leaky = kspec.load(sequential_spec([{"type": "Activation", "activation": "leaky_relu"}], [2]))
    np.testing.assert_allclose(leaky.predict(x), [[-0.2, 1.0]], rtol=RTOL)
    gelu = kspec.load(sequential_spec([{"type": "Activation", "activation": "gelu"}], [2]))
    exact = 0.5 * x * (1 + jax.scipy.special.erf(x / np.sqrt(2.0)))
    np.testing.assert_allclose(gelu.predict(x), exact, rtol=RTOL)


# Lambda: the Keras-docs antirectifier ----------------------------------------------------------

ANTIRECTIFIER = """
x = x - mean(x, axis=1, keepdims=True)
x = l2_normalize(x, axis=1)
pos = relu(x)
neg = relu(-x)
concatenate([pos, neg], axis=1)
"""


def _keras_antirectifier(x):  # type: ignore[no-untyped-def]
    x = x - keras.ops.mean(x, axis=1, keepdims=True)
    x = keras.ops.normalize(x, axis=1, order=2)
    return keras.ops.concatenate([keras.ops.relu(x), keras.ops.relu(-x)], axis=1)


def test_lambda_antirectifier() -> None:
    case = LayerCase(
        "antirectifier",
        [
            {"type": "Dense", "units": 6},
            {"type": "Lambda", "expression": ANTIRECTIFIER},
            {"type": "Dense", "units": 2},
        ],
        lambda: [L.Dense(6), L.Lambda(_keras_antirectifier), L.Dense(2)],
        (5,),
    )
    model = run_layer_case(case)
    assert model.get_layer(model.layer_names[1]).spec.type == "Lambda"
    assert model.compiled.shapes[
        next(r for r in model.compiled.shapes if r.node == model.layer_names[1])
    ] == (None, 12)


def test_batch_coupled_lambda_with_a_partial_last_batch() -> None:
    """`x - mean(x, axis=0, keepdims=True)` couples the rows of a batch: with batch_size 4
    over 10 samples the last batch (2 rows) must run at its true size, as Keras runs it."""
    keras.utils.set_random_seed(4)
    layers = [
        {"type": "Dense", "units": 3},
        {"type": "Lambda", "expression": "x - mean(x, axis=0, keepdims=True)"},
    ]
    with keras_side():
        keras_model = keras_sequential(
            [L.Dense(3), L.Lambda(lambda x: x - keras.ops.mean(x, axis=0, keepdims=True))], (5,)
        )
        keras_model.layers[0].set_weights(
            [np.random.default_rng(1).normal(size=s).astype(np.float32) for s in [(5, 3), (3,)]]
        )
        x = random_input((5,), seed=2, batch=10)
        expected = keras_model.predict(x, batch_size=4, verbose=0)
    model = kspec.load(sequential_spec(layers, (5,)))
    model.set_weights(keras_model.get_weights())
    np.testing.assert_allclose(model.predict(x, batch_size=4), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(expected[8:].sum(axis=0), 0.0, atol=1e-5)  # the true last batch


def test_lambda_that_drops_the_batch_axis_is_refused() -> None:
    spec = sequential_spec([{"type": "Lambda", "expression": "mean(x, axis=0)"}], (4,))
    with pytest.raises(kspec.SpecError) as info:
        kspec.validate(spec)
    assert str(info.value) == (
        "error: node 'lambda': the Lambda drops the batch axis: on a batch of 3 it returns "
        "shape (4,), on a batch of 7 (4,); its result must keep axis 0 as the batch (reduce "
        "over axis=1 and later, not axis=0) (input shapes: (None, 4))"
    )


# Losses: activity and weight regularizers ----------------------------------------------------


def _keras_losses(keras_model: keras.Model, x: np.ndarray) -> float:
    with keras_side():
        keras_model(x)
        return float(sum(np.asarray(loss) for loss in keras_model.losses))


def _kspec_loss(spec: dict, keras_model: keras.Model, x: np.ndarray) -> float:  # type: ignore[type-arg]
    model = kspec.load(spec)
    with keras_side():
        weights = keras_model.get_weights()
    model.set_weights(weights)
    _, aux = model.apply(model.variables, x, return_aux=True)
    return float(aux.loss)


LOSS_CASES = [
    (
        "activity_layer_l1_l2",
        [{"type": "ActivityRegularization", "l1": 0.01, "l2": 0.1}],
        lambda: [L.ActivityRegularization(l1=0.01, l2=0.1)],
    ),
    (
        "dense_activity_l2",
        [{"type": "Dense", "units": 3, "activity_regularizer": {"l2": 0.05}}],
        lambda: [L.Dense(3, activity_regularizer=keras.regularizers.L2(0.05))],
    ),
    (
        "dense_activity_l1",
        [{"type": "Dense", "units": 3, "activation": "relu", "activity_regularizer": "l1"}],
        lambda: [L.Dense(3, activation="relu", activity_regularizer="l1")],
    ),
    (
        "dense_weights",
        [
            {
                "type": "Dense",
                "units": 3,
                "kernel_regularizer": {"l1_l2": {"l1": 0.01, "l2": 0.02}},
                "bias_regularizer": "l2",
            }
        ],
        lambda: [
            L.Dense(
                3,
                kernel_regularizer=keras.regularizers.L1L2(0.01, 0.02),
                bias_regularizer="l2",
                bias_initializer="ones",
            )
        ],
    ),
    (
        "all_together",
        [
            {"type": "Dense", "units": 4, "kernel_regularizer": "l1", "activity_regularizer": "l2"},
            {"type": "ActivityRegularization", "l2": 0.3},
            {
                "type": "Dense",
                "units": 2,
                "kernel_regularizer": {"class_name": "L2", "config": {"l2": 0.2}},
            },
        ],
        lambda: [
            L.Dense(4, kernel_regularizer="l1", activity_regularizer="l2"),
            L.ActivityRegularization(l2=0.3),
            L.Dense(2, kernel_regularizer=keras.regularizers.L2(0.2)),
        ],
    ),
]


@pytest.mark.parametrize(
    ("layers", "keras_layers"), [c[1:] for c in LOSS_CASES], ids=[c[0] for c in LOSS_CASES]
)
def test_added_loss_equals_keras_losses(layers: list, keras_layers) -> None:  # type: ignore[no-untyped-def, type-arg]
    """Keras 3 divides activity penalties by the batch size; weight penalties are not."""
    keras.utils.set_random_seed(0)
    x = random_input((4,), batch=7)
    with keras_side():
        keras_model = randomize_weights(keras_sequential(keras_layers(), (4,)))
    expected = _keras_losses(keras_model, x)
    assert expected > 0
    np.testing.assert_allclose(
        _kspec_loss(sequential_spec(layers, (4,)), keras_model, x), expected, rtol=RTOL
    )


REGULARIZERS = [
    ("l1", lambda: keras.regularizers.L1()),
    ("l2", lambda: keras.regularizers.L2()),
    ({"l2": 0.3}, lambda: keras.regularizers.L2(0.3)),
    ({"l1_l2": {"l1": 0.001, "l2": 0.004}}, lambda: keras.regularizers.L1L2(0.001, 0.004)),
    ("l1_l2", lambda: keras.regularizers.L1L2()),
    ({"class_name": "L1", "config": {"l1": 0.2}}, lambda: keras.regularizers.L1(0.2)),
]


@pytest.mark.parametrize(("ours", "theirs"), REGULARIZERS, ids=[str(r[0]) for r in REGULARIZERS])
def test_weight_penalty_matches_keras_regularizer(ours, theirs) -> None:  # type: ignore[no-untyped-def]
    layer = {"type": "Dense", "units": 3, "kernel_regularizer": ours, "bias_regularizer": ours}
    model = kspec.load(sequential_spec([layer], (5,)))
    rng = np.random.default_rng(2)
    kernel, bias = rng.standard_normal((5, 3)), rng.standard_normal(3)
    model.set_weights([kernel, bias])
    with keras_side():
        expected = float(theirs()(kernel.astype(np.float32))) + float(
            theirs()(bias.astype(np.float32))
        )
    actual = float(model.compiled.weight_penalty(model.variables["params"]))
    np.testing.assert_allclose(actual, expected, rtol=RTOL)


# Constraints ------------------------------------------------------------------------------------

CONSTRAINTS = [
    ("max_norm", lambda: keras.constraints.MaxNorm(), True),
    (
        {"max_norm": {"max_value": 0.8, "axis": 1}},
        lambda: keras.constraints.MaxNorm(0.8, axis=1),
        False,
    ),
    ("non_neg", lambda: keras.constraints.NonNeg(), True),
    ("unit_norm", lambda: keras.constraints.UnitNorm(), True),
    ({"unit_norm": {"axis": 1}}, lambda: keras.constraints.UnitNorm(axis=1), False),
    ("min_max_norm", lambda: keras.constraints.MinMaxNorm(), True),
    (
        {"min_max_norm": {"min_value": 1.5, "max_value": 2.5, "rate": 0.7}},
        lambda: keras.constraints.MinMaxNorm(1.5, 2.5, rate=0.7),
        True,
    ),
    (
        {"min_max_norm": {"min_value": 0.5, "max_value": 3.0, "axis": [0, 1]}},
        lambda: keras.constraints.MinMaxNorm(0.5, 3.0, axis=[0, 1]),
        False,
    ),
]


@pytest.mark.parametrize(
    ("ours", "theirs", "on_bias"), CONSTRAINTS, ids=[str(c[0]) for c in CONSTRAINTS]
)
def test_constraint_matches_keras(ours, theirs, on_bias: bool) -> None:  # type: ignore[no-untyped-def]
    """Norms spread on both sides of the limits, so clipping bites in both directions."""
    layer = {"type": "Dense", "units": 4, "kernel_constraint": ours}
    if on_bias:
        layer["bias_constraint"] = ours
    model = kspec.load(sequential_spec([layer], (6,)))
    rng = np.random.default_rng(3)
    kernel = (rng.standard_normal((6, 4)) * rng.uniform(0.1, 1.5, 4)).astype(np.float32)
    bias = rng.standard_normal(4).astype(np.float32)
    model.set_weights([kernel, bias])
    constrained = model.compiled.constrain(model.variables["params"])[model.layer_names[0]]
    with keras_side():
        expected_kernel = np.asarray(theirs()(kernel))
        expected_bias = np.asarray(theirs()(bias)) if on_bias else bias
    np.testing.assert_allclose(constrained["kernel"], expected_kernel, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(constrained["bias"], expected_bias, rtol=RTOL, atol=ATOL)


# Masking -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mask_value", [0.0, -1.0])
def test_masking_output_and_mask(mask_value: float) -> None:
    x = random_input((5, 3), seed=4, batch=3)
    x[0, 1] = mask_value  # a fully masked step
    x[1, 3] = mask_value
    x[2, 0, 1] = mask_value  # one feature only: not masked
    x[2, 4] = mask_value
    with keras_side():
        keras_layer = L.Masking(mask_value)
        expected = keras_sequential([keras_layer], (5, 3)).predict(x, verbose=0)
        expected_mask = np.asarray(keras_layer.compute_mask(x))
    model = kspec.load(sequential_spec([{"type": "Masking", "mask_value": mask_value}], (5, 3)))
    np.testing.assert_allclose(model.predict(x), expected, rtol=RTOL, atol=ATOL)
    (node,) = model.compiled.graph.nodes
    (mask,) = node.lowering.compute_mask(node.spec, [None], [jnp.asarray(x)])
    np.testing.assert_array_equal(np.asarray(mask), expected_mask)


# Dropout in training mode -------------------------------------------------------------------------


def _dropout(rate: float, shape: tuple[int, ...], noise_shape: list | None = None):  # type: ignore[no-untyped-def, type-arg]
    layer = {"type": "Dropout", "rate": rate, "noise_shape": noise_shape}
    model = kspec.load(sequential_spec([layer], shape))
    return lambda x, key: np.asarray(model.apply(model.variables, x, training=True, rng=key))


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_dropout_training_statistics(rate: float) -> None:
    x = np.ones((200, 100), np.float32) + np.abs(random_input((100,), batch=200))
    y = _dropout(rate, (100,))(x, jax.random.PRNGKey(0))
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / (1 - rate), rtol=RTOL)
    sigma = np.sqrt(rate * (1 - rate) / x.size)
    assert abs((1 - kept.mean()) - rate) < 5 * sigma
    # Keras' own training-mode dropout obeys the same rule (guards the oracle, not kspec).
    with keras_side():
        k = np.asarray(L.Dropout(rate, seed=1)(x, training=True))
    np.testing.assert_allclose(k[k != 0], x[k != 0] / (1 - rate), rtol=RTOL)


@pytest.mark.parametrize("noise_shape", [[None, 1, None], [None, None, 1], [1, 1, None]])
def test_dropout_noise_shape_broadcasts(noise_shape: list) -> None:  # type: ignore[type-arg]
    x = np.ones((16, 10, 12), np.float32)
    y = _dropout(0.5, (10, 12), noise_shape)(x, jax.random.PRNGKey(1))
    for axis, n in enumerate(noise_shape):
        if n == 1:  # the same keep/drop decision along this axis
            np.testing.assert_array_equal(y, np.take(y, [0], axis=axis).repeat(x.shape[axis], axis))
    draws = math.prod(d if n is None else 1 for d, n in zip(x.shape, noise_shape, strict=True))
    assert abs((y == 0).mean() - 0.5) < 4 * math.sqrt(0.25 / draws)  # independent decisions
    assert set(np.unique(y)) <= {0.0, 2.0}
    with keras_side():  # Keras' noise_shape: same broadcasting, same values
        k = np.asarray(L.Dropout(0.5, noise_shape=tuple(noise_shape), seed=2)(x, training=True))
    for axis, n in enumerate(noise_shape):
        if n == 1:
            np.testing.assert_array_equal(k, np.take(k, [0], axis=axis).repeat(x.shape[axis], axis))
    assert set(np.unique(k)) <= {0.0, 2.0}


def test_dropout_deterministic_per_rng_and_identity_at_inference() -> None:
    x = random_input((50,), batch=20)
    run = _dropout(0.4, (50,))
    a, b = run(x, jax.random.PRNGKey(5)), run(x, jax.random.PRNGKey(5))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, run(x, jax.random.PRNGKey(6)))
    model = kspec.load(sequential_spec([{"type": "Dropout", "rate": 0.4}], (50,)))
    np.testing.assert_array_equal(np.asarray(model.apply(model.variables, x)), x)
    np.testing.assert_array_equal(model.predict(x), x)


@pytest.mark.parametrize("rank", [1, 3])
def test_dense_lora_matches_keras(rank: int) -> None:
    """LoRA Dense: Keras lists the frozen kernel first; B starts at zero, so it is randomised
    on the Keras side before copying, to make the low-rank path count."""
    spec = sequential_spec([{"type": "Dense", "units": 4, "lora_rank": rank}], (5,))
    with keras_side():
        keras_model = keras_sequential([L.Dense(4, lora_rank=rank)], (5,))
        rng = np.random.default_rng(1)
        keras_model.set_weights([rng.normal(size=w.shape) for w in keras_model.get_weights()])
    model = assert_parity(spec, keras_model, random_input((5,)))
    layer = model.get_layer("dense")
    assert layer.weight_names() == ["kernel", "bias", "lora_kernel_a", "lora_kernel_b"]
    assert set(model.variables["state"]["dense"]) == {"kernel"}  # frozen: not a parameter


def test_dense_lora_alpha_scales_the_update() -> None:
    """`lora_alpha / lora_rank` scales A @ B, as the Keras docs define it. (Keras 3.15 itself
    resets lora_alpha to lora_rank when the layer builds, so the oracle here is NumPy.)"""
    model = kspec.load(
        sequential_spec([{"type": "Dense", "units": 4, "lora_rank": 2, "lora_alpha": 6.0}], (5,))
    )
    model.init(0)
    rng = np.random.default_rng(2)
    kernel, bias, a, b = (rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights())
    model.set_weights([kernel, bias, a, b])
    x = random_input((5,))
    expected = x @ (kernel + 3.0 * a @ b) + bias
    np.testing.assert_allclose(model.predict(x), expected, rtol=RTOL, atol=1e-5)


def test_dense_lora_rejects_kernel_constraint() -> None:
    spec = sequential_spec(
        [{"type": "Dense", "units": 4, "lora_rank": 2, "kernel_constraint": "max_norm"}], (5,)
    )
    with pytest.raises(kspec.SpecError, match="LoRA is incompatible with kernel constraints"):
        kspec.validate(spec)
