"""Every per-backend lowering choice (compiler/options.py) has two forms; both must compute the
same values and the same gradients (rtol 1e-5), whatever the backend picks by default. Each
test also checks that the forced form is really the one traced, so it cannot pass by both
sides taking the same path."""

from __future__ import annotations

import re
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kspec
from kspec import LoweringOptions
from kspec.compiler.layers.conv_grad import (
    CONCAT_BELOW_CHANNELS,
    MAX_PATCH_ELEMENTS,
    ConvGeometry,
)
from kspec.compiler.layers.window_max import block_max
from tests.compiler.jaxprs import equations


def _model(
    layer: dict[str, Any] | list[dict[str, Any]], shape: list[int], options: LoweringOptions
) -> Any:
    """A one-input model of `layer` (or of a stack of layers)."""
    layers = layer if isinstance(layer, list) else [layer]
    spec = {"kspec": 1, "inputs": {"x": shape}, "layers": layers}
    return kspec.load(spec, lowering=options).compiled


def _loss_and_grads(compiled: Any, variables: Any, x: jax.Array, training: bool) -> Any:
    """Outputs, new state, and value and gradients (params and input) of a loss that weighs
    every output element differently, so a gradient routed to the wrong position shows.
    In training, dropout draws from the same key in every form."""
    rng = jax.random.PRNGKey(7) if training else None

    def loss(params: Any, x: jax.Array) -> jax.Array:
        outputs, _ = compiled.apply(
            {**variables, "params": params}, {"x": x}, training=training, rng=rng
        )
        weights = [jnp.sin(jnp.arange(y.size, dtype=y.dtype)).reshape(y.shape) for y in outputs]
        return sum(jnp.sum(y * w) for y, w in zip(outputs, weights, strict=True))

    @jax.jit
    def run(variables: Any, x: jax.Array) -> Any:
        outputs, aux = compiled.apply(variables, {"x": x}, training=training, rng=rng)
        grads = jax.value_and_grad(loss, argnums=(0, 1))(variables["params"], x)
        return outputs, aux.state, grads

    return run(variables, x)


def _assert_forms_agree(
    layer: dict[str, Any] | list[dict[str, Any]],
    shape: list[int],
    field: str,
    forms: Any,
    training: bool = False,
    x: np.ndarray | None = None,
) -> None:
    """Both forms give equal outputs, state and gradients on randomised weights and on `x`
    (default: a random batch of two)."""
    fast, plain = (LoweringOptions(**{field: form}) for form in forms)
    models = [_model(layer, shape, options) for options in (fast, plain)]
    rng = np.random.default_rng(0)
    variables = jax.tree.map(  # randomised weights, biases too
        lambda a: rng.standard_normal(a.shape).astype(a.dtype),
        jax.eval_shape(models[0].init, jax.random.PRNGKey(0)),
    )
    x = rng.standard_normal((2, *shape)).astype(np.float32) if x is None else x
    ours, theirs = (_loss_and_grads(m, variables, x, training) for m in models)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)


def _jaxpr(layer: dict[str, Any], shape: list[int], options: LoweringOptions) -> str:
    compiled = _model(layer, shape, options)
    variables = jax.eval_shape(compiled.init, jax.random.PRNGKey(0))
    x = jax.ShapeDtypeStruct((2, *shape), jnp.float32)
    return str(jax.make_jaxpr(lambda v, x: compiled.apply(v, {"x": x})[0])(variables, x))


CONVS = [  # input channels below CONCAT_BELOW_CHANNELS: the concatenated form
    ({"type": "Conv2D", "filters": 5, "kernel_size": 3}, [9, 8, 3]),
    ({"type": "Conv2D", "filters": 3, "kernel_size": 3}, [7, 6, 1]),
    ({"type": "Conv2D", "filters": 4, "kernel_size": [3, 2], "strides": 2, "padding": "same"},
     [9, 7, 3]),
    ({"type": "Conv2D", "filters": 4, "kernel_size": 3, "dilation_rate": 2}, [9, 9, 2]),
    ({"type": "Conv2D", "filters": 4, "kernel_size": 3, "data_format": "channels_first"},
     [3, 8, 7]),
    ({"type": "Conv1D", "filters": 4, "kernel_size": 3, "padding": "causal"}, [10, 3]),
    ({"type": "Conv3D", "filters": 3, "kernel_size": 2, "strides": [1, 2, 1]}, [5, 6, 4, 2]),
    # from CONCAT_BELOW_CHANNELS on: one matmul per tap
    ({"type": "Conv2D", "filters": 5, "kernel_size": 3}, [7, 6, 8]),
    ({"type": "Conv2D", "filters": 4, "kernel_size": [3, 2], "strides": 2, "padding": "same"},
     [9, 7, 9]),
    ({"type": "Conv2D", "filters": 4, "kernel_size": 3, "dilation_rate": 2, "padding": "same"},
     [8, 9, 8]),
    ({"type": "Conv2D", "filters": 3, "kernel_size": 3, "strides": [1, 2],
      "data_format": "channels_first"}, [10, 8, 7]),
    ({"type": "Conv1D", "filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"}, [11, 12]),
    ({"type": "Conv1D", "filters": 4, "kernel_size": 2, "dilation_rate": 3, "padding": "causal"},
     [10, 8]),
    ({"type": "Conv3D", "filters": 3, "kernel_size": 2, "padding": "same",
      "data_format": "channels_first"}, [8, 4, 5, 3]),
]  # fmt: skip


def _input_channels(layer: dict[str, Any], shape: list[int]) -> int:
    return shape[0 if layer.get("data_format") == "channels_first" else -1]


def test_conv_table_covers_both_weight_gradient_forms() -> None:
    """CONVS runs the concatenated form and the per-tap one, C = 1 included."""
    channels = {_input_channels(layer, shape) for layer, shape in CONVS}
    assert 1 in channels
    assert min(channels) < CONCAT_BELOW_CHANNELS <= max(channels)


@pytest.mark.parametrize(("layer", "shape"), CONVS)
def test_im2col_weight_gradient_equals_xla(layer: dict[str, Any], shape: list[int]) -> None:
    _assert_forms_agree(layer, shape, "conv_weight_grad", ("im2col", "xla"))


def test_patch_cap_applies_to_the_concatenated_form_only() -> None:
    """Only the concatenated form builds a patch matrix, so only it falls back to XLA's
    gradient above MAX_PATCH_ELEMENTS; the per-tap form takes any static size."""
    geometry = ConvGeometry((1, 1), ((0, 0), (0, 0)), (1, 1), ("NHWC", "HWIO", "NHWC"))
    few, many = CONCAT_BELOW_CHANNELS - 1, CONCAT_BELOW_CHANNELS
    batch = MAX_PATCH_ELEMENTS // (24 * 24 * 9 * few) + 1  # a patch matrix just over the cap
    assert geometry.fits_im2col((1, 26, 26, few), (3, 3, few, 4))
    assert not geometry.fits_im2col((batch, 26, 26, few), (3, 3, few, 4))
    assert geometry.fits_im2col((batch, 26, 26, many), (3, 3, many, 4))
    # the cap itself still fits: 1x1 kernel, 4 channels, 2**15 * 32 * 32 positions = 2**27
    assert MAX_PATCH_ELEMENTS == 2**27
    assert geometry.fits_im2col((2**15, 32, 32, 4), (1, 1, 4, 1))
    assert not geometry.fits_im2col((2**15 + 1, 32, 32, 4), (1, 1, 4, 1))


def test_conv_weight_gradient_switch_picks_the_form() -> None:
    layer, shape = CONVS[0]
    assert "custom_vjp_call" in _jaxpr(layer, shape, LoweringOptions(conv_weight_grad="im2col"))
    assert "custom_vjp_call" not in _jaxpr(layer, shape, LoweringOptions(conv_weight_grad="xla"))


def test_grouped_convolution_keeps_xla_gradient() -> None:
    """im2col covers one group only; grouped convolutions stay XLA's whatever the switch."""
    layer = {"type": "Conv2D", "filters": 4, "kernel_size": 3, "groups": 2}
    assert "custom_vjp_call" not in _jaxpr(layer, [6, 6, 4], LoweringOptions("im2col"))


POOLS = [
    ({"type": "MaxPooling2D", "pool_size": 2}, [8, 6, 3]),
    ({"type": "MaxPooling2D", "pool_size": [2, 3], "data_format": "channels_first"}, [2, 4, 9]),
    ({"type": "MaxPooling1D", "pool_size": 3}, [9, 2]),
    ({"type": "MaxPooling3D", "pool_size": 2}, [4, 4, 2, 2]),
]


@pytest.mark.parametrize(("layer", "shape"), POOLS)
def test_reshape_max_pool_equals_reduce_window(layer: dict[str, Any], shape: list[int]) -> None:
    _assert_forms_agree(layer, shape, "max_pool", ("reshape", "reduce_window"))


@pytest.mark.parametrize(
    ("layer", "shape", "reshaped"),
    [
        ({"type": "MaxPooling2D", "pool_size": 2}, [8, 6, 3], True),
        ({"type": "MaxPooling2D", "pool_size": 2}, [7, 6, 3], False),  # 7 does not divide
        ({"type": "MaxPooling2D", "pool_size": 2, "strides": 1}, [8, 6, 3], False),
        ({"type": "MaxPooling2D", "pool_size": 2, "padding": "same"}, [8, 6, 3], False),
    ],
)
def test_reshape_max_pool_only_where_windows_tile(
    layer: dict[str, Any], shape: list[int], reshaped: bool
) -> None:
    """The block form is XLA's forward in a `custom_vjp` that supplies the block gradient."""
    jaxpr = _jaxpr(layer, shape, LoweringOptions(max_pool="reshape"))
    assert ("custom_vjp_call" in jaxpr) is reshaped
    assert "reduce_window" in jaxpr
    assert "custom_vjp" not in _jaxpr(layer, shape, LoweringOptions(max_pool="reduce_window"))


@pytest.mark.parametrize(
    ("shape", "spatial_axes", "pool"),
    [((2, 6, 4, 3), (1, 2), (2, 2)), ((2, 3, 4, 9), (2, 3), (2, 3)), ((2, 9, 3), (1,), (3,))],
)
def test_block_max_gradient_splits_ties_as_jnp_max(
    shape: tuple[int, ...], spatial_axes: tuple[int, ...], pool: tuple[int, ...]
) -> None:
    """Values from {0, 1, 2} tie within most blocks: the gradient is dy shared evenly among
    a block's maxima, exactly what autodiff of reshape + `jnp.max` gives."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.integers(0, 3, shape), jnp.float32)

    def reshaped(x: jax.Array) -> jax.Array:
        split, axes = [], []
        for axis, size in enumerate(x.shape):
            if axis in spatial_axes:
                k = pool[spatial_axes.index(axis)]
                split += [size // k, k]
                axes.append(len(split) - 1)
            else:
                split.append(size)
        return jnp.max(x.reshape(split), axis=tuple(axes))

    y = block_max(x, spatial_axes, pool)
    np.testing.assert_array_equal(y, reshaped(x))
    dy = jnp.asarray(rng.normal(size=y.shape), jnp.float32)
    (ours,) = jax.vjp(lambda x: block_max(x, spatial_axes, pool), x)[1](dy)
    (theirs,) = jax.vjp(reshaped, x)[1](dy)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)


def test_unknown_form_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"LoweringOptions.max_pool must be one of auto, "
                       r"reshape, reduce_window. Received: max_pool='fast'"):  # fmt: skip
        LoweringOptions(max_pool="fast")  # type: ignore[arg-type]


RNNS = [
    ({"type": "LSTM", "units": 4}, [5, 3]),
    ({"type": "GRU", "units": 4, "return_sequences": True}, [5, 3]),
    ({"type": "GRU", "units": 3, "reset_after": False}, [4, 2]),
    ({"type": "SimpleRNN", "units": 3, "unroll": True, "return_sequences": True}, [4, 2]),
]


@pytest.mark.parametrize(("layer", "shape"), RNNS)
def test_hoisted_input_projection_equals_per_step(layer: dict[str, Any], shape: list[int]) -> None:
    _assert_forms_agree(layer, shape, "rnn_input_projection", ("hoisted", "per_step"))


def test_input_projection_switch_picks_the_form() -> None:
    """Hoisted, `x @ kernel` is a top-level matmul before the scan; per step, none is."""
    layer, shape = RNNS[0]

    def top_level_matmuls(form: str) -> int:
        compiled = _model(layer, shape, LoweringOptions(rnn_input_projection=form))
        variables = jax.eval_shape(compiled.init, jax.random.PRNGKey(0))
        x = jax.ShapeDtypeStruct((2, *shape), jnp.float32)
        jaxpr = jax.make_jaxpr(lambda v, x: compiled.apply(v, {"x": x})[0])(variables, x)
        return sum(e.primitive.name == "dot_general" for e in jaxpr.jaxpr.eqns)

    assert top_level_matmuls("hoisted") == 1
    assert top_level_matmuls("per_step") == 0


@pytest.mark.parametrize(("layer", "shape"), RNNS)
def test_unrolled_scan_trips_equal_one_step_trips(layer: dict[str, Any], shape: list[int]) -> None:
    """3 steps per trip over 4-5 timesteps: a remainder trip too."""
    _assert_forms_agree(layer, shape, "rnn_scan_unroll", (3, 1))


@pytest.mark.parametrize("weight_grad", ["per_step", "batched"])
def test_scan_unroll_switch_sets_the_scans_unroll(weight_grad: str) -> None:
    layer, shape = RNNS[0]

    def unrolls(count: int) -> list[int]:
        options = LoweringOptions(rnn_scan_unroll=count, rnn_weight_grad=weight_grad)
        compiled = _model(layer, shape, options)
        variables = jax.eval_shape(compiled.init, jax.random.PRNGKey(0))
        x = jax.ShapeDtypeStruct((2, *shape), jnp.float32)
        jaxpr = jax.make_jaxpr(lambda v, x: compiled.apply(v, {"x": x})[0])(variables, x)
        return [e.params["unroll"] for e in equations(jaxpr.jaxpr) if e.primitive.name == "scan"]

    assert unrolls(4) == [4]
    assert unrolls(1) == [1]


def _masked_batch(shape: list[int]) -> np.ndarray:
    """Three sequences whose masks differ: padded at the end, padded first, none padded."""
    x = np.random.default_rng(1).standard_normal((3, *shape)).astype(np.float32)
    x[0, 3:] = 0.0
    x[1, 0] = 0.0
    return x


ADDITIVE_RNNS = [  # (layers, input shape, training, input): SimpleRNN and LSTM, every path
    ({"type": "LSTM", "units": 4}, [5, 3], False, None),
    ({"type": "SimpleRNN", "units": 3, "use_bias": False, "return_sequences": True}, [4, 2],
     False, None),
    ({"type": "LSTM", "units": 3, "return_sequences": True, "return_state": True,
      "go_backwards": True, "recurrent_activation": "hard_sigmoid"}, [5, 2], False, None),
    ([{"type": "Masking"}, {"type": "LSTM", "units": 4, "return_sequences": True}], [6, 3],
     False, _masked_batch([6, 3])),
    ([{"type": "Masking"}, {"type": "SimpleRNN", "units": 3, "return_state": True}], [6, 3],
     False, _masked_batch([6, 3])),
    ({"type": "LSTM", "units": 4, "dropout": 0.3, "recurrent_dropout": 0.4,
      "return_sequences": True}, [5, 3], True, None),
    ([{"type": "Masking"}, {"type": "SimpleRNN", "units": 4, "recurrent_dropout": 0.5}],
     [6, 3], True, _masked_batch([6, 3])),
]  # fmt: skip


@pytest.mark.parametrize(("layers", "shape", "training", "x"), ADDITIVE_RNNS)
def test_batched_rnn_weight_grad_equals_per_step(
    layers: Any, shape: list[int], training: bool, x: np.ndarray | None
) -> None:
    """Masks, recurrent dropout, sequences, states, reversed input, no bias."""
    _assert_forms_agree(layers, shape, "rnn_weight_grad", ("batched", "per_step"), training, x)


def test_batched_rnn_weight_grad_differentiates_initial_states() -> None:
    """States passed in as inputs (an encoder's, say) get the same gradients in both forms."""
    spec = {
        "kspec": 1,
        "inputs": {"x": [5, 3], "h": [4], "c": [4]},
        "layers": [{"type": "LSTM", "name": "rnn", "units": 4, "return_sequences": True,
                    "inputs": ["x", "h", "c"]}],
    }  # fmt: skip
    rng = np.random.default_rng(2)
    inputs = {n: rng.standard_normal((2, *shape)).astype(np.float32)
              for n, shape in (("x", (5, 3)), ("h", (4,)), ("c", (4,)))}  # fmt: skip
    grads = []
    for form in ("batched", "per_step"):
        model = kspec.load(spec, lowering=LoweringOptions(rnn_weight_grad=form)).compiled
        variables = model.init(jax.random.PRNGKey(0))

        def loss(params: Any, inputs: Any, model: Any = model, variables: Any = variables) -> Any:
            (y,), _ = model.apply({**variables, "params": params}, inputs)
            return jnp.sum(jnp.sin(y))

        grads.append(jax.grad(loss, argnums=(0, 1))(variables["params"], inputs))
    for a, b in zip(*(jax.tree.leaves(g) for g in grads), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    assert np.abs(np.asarray(grads[0][1]["c"])).min() > 0  # the states' gradient is real


@pytest.mark.parametrize("form", ["batched", "per_step"])
def test_only_autodiffs_rnn_form_has_forward_mode(form: str) -> None:
    """What docs/jax.md tells users: `jax.jvp` through the batched form raises; per step, the
    tangent is the directional derivative (checked against a finite difference)."""
    compiled = _model(*RNNS[0], LoweringOptions(rnn_weight_grad=form))
    variables = compiled.init(jax.random.PRNGKey(0))
    x, dx = (jnp.asarray(np.random.default_rng(i).standard_normal((2, 5, 3))) for i in (0, 1))

    def f(x: jax.Array) -> jax.Array:
        return compiled.apply(variables, {"x": x})[0][0]

    if form == "batched":
        with pytest.raises(TypeError, match="can't apply forward-mode autodiff"):
            jax.jvp(f, (x,), (dx,))
        return
    _, tangent = jax.jvp(f, (x,), (dx,))
    step = 1e-3
    finite = (f(x + step * dx) - f(x - step * dx)) / (2 * step)
    np.testing.assert_allclose(np.asarray(tangent), np.asarray(finite), rtol=1e-2, atol=1e-4)


def test_rnn_weight_grad_switch_picks_the_form() -> None:
    """Batched, the recurrence is a `custom_vjp`; per step it is autodiff's scan. GRU,
    ConvLSTM2D and a layer unrolled in full keep autodiff whatever the switch."""
    batched = LoweringOptions(rnn_weight_grad="batched")
    for layer, shape in [RNNS[0], ({"type": "SimpleRNN", "units": 2}, [3, 2])]:
        assert "custom_vjp_call" in _jaxpr(layer, shape, batched)
        assert "custom_vjp_call" not in _jaxpr(
            layer, shape, LoweringOptions(rnn_weight_grad="per_step")
        )
    for layer, shape in [RNNS[1], RNNS[3], ({"type": "ConvLSTM2D", "filters": 2,
                                            "kernel_size": 3}, [3, 5, 5, 1])]:  # fmt: skip
        assert "custom_vjp_call" not in _jaxpr(layer, shape, batched)
    hoisted = LoweringOptions(rnn_weight_grad="batched", rnn_input_projection="hoisted")
    assert "custom_vjp_call" not in _jaxpr(*RNNS[0], hoisted)


@pytest.mark.parametrize("count", [0, -2, True, 2.5, "4"])
def test_scan_unroll_takes_auto_or_a_positive_count(count: Any) -> None:
    with pytest.raises(ValueError, match=(
        r"^LoweringOptions.rnn_scan_unroll must be auto or a positive number of timesteps. "
        rf"Received: rnn_scan_unroll={re.escape(repr(count))}$"
    )):  # fmt: skip
        LoweringOptions(rnn_scan_unroll=count)


BATCH_NORMS = [
    ({"type": "BatchNormalization"}, [4, 3]),
    ({"type": "BatchNormalization", "axis": 1, "momentum": 0.9}, [3, 4, 2]),
    ({"type": "BatchNormalization", "center": False, "scale": False}, [5, 2, 3]),
]


@pytest.mark.parametrize(("layer", "shape"), BATCH_NORMS)
def test_one_pass_batch_norm_statistics_equal_two_pass(
    layer: dict[str, Any], shape: list[int]
) -> None:
    """Training mode: outputs, moving statistics and gradients agree."""
    _assert_forms_agree(layer, shape, "batch_norm_statistics", ("one_pass", "two_pass"), True)


def _primitives(form: str) -> list[str]:
    compiled = _model(BATCH_NORMS[0][0], BATCH_NORMS[0][1], LoweringOptions(
        batch_norm_statistics=form))  # fmt: skip
    variables = jax.eval_shape(compiled.init, jax.random.PRNGKey(0))
    x = jax.ShapeDtypeStruct((2, *BATCH_NORMS[0][1]), jnp.float32)
    run = lambda v, x: compiled.apply(v, {"x": x}, training=True)  # noqa: E731
    return [e.primitive.name for e in jax.make_jaxpr(run)(variables, x).eqns]


def test_batch_norm_statistics_switch_picks_the_form() -> None:
    """One pass shifts by the (gradient-stopped) moving mean and sums d and d^2 inline; two
    passes call `jnp.var`, a nested jit, and never stop a gradient."""
    one, two = _primitives("one_pass"), _primitives("two_pass")
    assert "stop_gradient" in one and "jit" not in one
    assert "stop_gradient" not in two and "jit" in two


def test_one_pass_variance_keeps_its_digits_far_from_zero() -> None:
    """A channel at mean 1000, std 1: E[x^2] - E[x]^2 unshifted would lose most of float32's
    digits; shifted by a moving mean near the batch's, the variance matches float64."""
    compiled = _model({"type": "BatchNormalization", "momentum": 0.0}, [3], LoweringOptions(
        batch_norm_statistics="one_pass"))  # fmt: skip
    variables = compiled.init(jax.random.PRNGKey(0))
    state = {"batch_normalization": {"moving_mean": jnp.full(3, 999.7),
                                     "moving_variance": jnp.ones(3)}}  # fmt: skip
    x = 1000.0 + np.random.default_rng(1).standard_normal((256, 3))
    _, aux = compiled.apply({**variables, "state": state}, {"x": x.astype(np.float32)},
                            training=True)  # fmt: skip
    stats = aux.state["batch_normalization"]
    np.testing.assert_allclose(stats["moving_variance"], x.var(0), rtol=1e-4)
    np.testing.assert_allclose(stats["moving_mean"], x.mean(0), rtol=1e-6)


DEPTHWISES = [
    ({"type": "DepthwiseConv2D", "kernel_size": 3}, [9, 8, 3]),
    ({"type": "DepthwiseConv2D", "kernel_size": [3, 2], "strides": 2, "padding": "same",
      "depth_multiplier": 2}, [9, 7, 3]),
    ({"type": "DepthwiseConv2D", "kernel_size": 3, "dilation_rate": 2,
      "data_format": "channels_first"}, [2, 9, 9]),
    ({"type": "DepthwiseConv2D", "kernel_size": 3, "strides": [2, 1], "depth_multiplier": 3,
      "data_format": "channels_first", "use_bias": False}, [3, 8, 7]),
    ({"type": "DepthwiseConv2D", "kernel_size": 2, "dilation_rate": [1, 2], "padding": "same",
      "depth_multiplier": 2}, [6, 7, 2]),
    ({"type": "DepthwiseConv1D", "kernel_size": 3, "depth_multiplier": 2, "padding": "same"},
     [10, 3]),
    ({"type": "DepthwiseConv1D", "kernel_size": 4, "strides": 3}, [11, 2]),
    ({"type": "DepthwiseConv1D", "kernel_size": 3, "dilation_rate": 2, "padding": "same",
      "data_format": "channels_first"}, [3, 10]),
    ({"type": "SeparableConv2D", "filters": 4, "kernel_size": 3, "strides": 2, "padding": "same",
      "depth_multiplier": 2}, [8, 8, 3]),
    ({"type": "SeparableConv1D", "filters": 3, "kernel_size": 3, "use_bias": False,
      "data_format": "channels_first"}, [2, 9]),
]  # fmt: skip


@pytest.mark.parametrize(("layer", "shape"), DEPTHWISES)
def test_shifted_depthwise_equals_xla(layer: dict[str, Any], shape: list[int]) -> None:
    _assert_forms_agree(layer, shape, "depthwise_conv", ("shifted", "xla"))


@pytest.mark.parametrize(("layer", "shape"), [DEPTHWISES[1], DEPTHWISES[-2]])
def test_depthwise_switch_picks_the_form(layer: dict[str, Any], shape: list[int]) -> None:
    """Shifted, no grouped convolution is traced (a SeparableConv keeps its pointwise one);
    under `xla`, one with feature_group_count = channels is."""
    grouped = f"feature_group_count={shape[-1]}"
    shifted = _jaxpr(layer, shape, LoweringOptions(depthwise_conv="shifted"))
    assert grouped not in shifted and "custom_vjp_call" in shifted
    assert grouped in _jaxpr(layer, shape, LoweringOptions(depthwise_conv="xla"))


def test_shifted_depthwise_exports_with_a_symbolic_batch() -> None:
    """The slices never touch the batch axis, so a model exported for any batch size keeps
    the shifted form and computes what the concrete call does."""
    layer, shape = DEPTHWISES[1]
    compiled = _model(layer, shape, LoweringOptions(depthwise_conv="shifted"))
    variables = compiled.init(jax.random.PRNGKey(0))
    run = jax.jit(lambda v, x: compiled.apply(v, {"x": x})[0])
    (batch,) = jax.export.symbolic_shape("b")
    exported = jax.export.export(run)(variables, jax.ShapeDtypeStruct((batch, *shape), jnp.float32))
    assert f"feature_group_count = {shape[-1]}" not in exported.mlir_module()
    x = np.random.default_rng(0).standard_normal((5, *shape)).astype(np.float32)
    np.testing.assert_allclose(exported.call(variables, x)[0], run(variables, x)[0], rtol=1e-6)
