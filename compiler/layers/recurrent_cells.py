"""The recurrent cells: what distinguishes SimpleRNN, LSTM, GRU and ConvLSTM2D for the one
recurrence driver in `recurrent.py` (gates, states, step function, bias, input projection)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kspec.compiler.activations import activation
from kspec.compiler.deferred import jax, jnp
from kspec.compiler.initializers import initialize
from kspec.compiler.layers.spatial import (
    channel_axis,
    conv_dimension_numbers,
    join_shape,
    output_length,
    padding_pairs,
    per_axis,
    split_shape,
)
from kspec.compiler.lowering import Array, Shape, Weights, add_bias
from kspec.schemas.fields import Ones
from kspec.schemas.layers import recurrent as s

States = tuple[Array, ...]
Step = Callable[[Any, Weights, Array, States, Array | None], States]
Activate = Callable[[Any, Array, States], States]


@dataclass(frozen=True)
class Cell:
    """What distinguishes one recurrent layer: gates per unit, state names, bias, step.

    A cell declares either `activate` (its step is `activate(x W + b + h U, states)`) or, for
    steps of another form, `custom_step`."""

    gates: int
    states: tuple[str, ...]
    bias: Callable[[Any, Array], Array]
    input_bias: Callable[[Any, Weights], Array]
    activate: Activate | None = None
    """The nonlinear part of an additive step: the pre-activation `z = x W + b + h U` (all
    gates, `gates * units` wide) and the previous states -> the new states. Declaring it lets
    the recurrence differentiate just this part per timestep and compute the matmuls'
    gradients after the scan (`rnn_weight_grad="batched"`, compiler/layers/recurrent_batched.py)."""
    custom_step: Step | None = None
    """The step of a cell that is not additive (GRU's reset gate, ConvLSTM2D's convolution)."""
    project: Callable[[Any, Weights, Array], Array] | None = None
    """x_t -> x_t W (bias not added); default: a matmul with `kernel`."""
    state_shape: Callable[[Any, tuple[int, ...]], tuple[int, ...]] | None = None
    """Shape of each state from the input's shape; default: `(batch, units)`."""

    def step(self, spec: Any, p: Weights, xw: Array, st: States, rd: Array | None) -> States:
        """One timestep: `xw` is the input projection `x_t W + b`, `rd` the recurrent dropout
        keep mask (or None)."""
        if self.activate is not None:
            return self.activate(spec, preactivation(xw, st[0], rd, p["recurrent_kernel"]), st)
        assert self.custom_step is not None  # every cell declares one of the two
        return self.custom_step(spec, p, xw, st, rd)


# Steps: xw is the input projection x_t @ kernel (+ the input-side bias) -----------------------


def _simple_activate(spec: s.SimpleRNN, z: Array, st: States) -> States:
    """h = activation(x W + h U + b)"""
    return (activation(spec.activation)(z),)


def _lstm_activate(spec: s.LSTM, z: Array, st: States) -> States:
    """c = f * c + i * g; h = o * activation(c)"""
    _, c = st
    gate, act = activation(spec.recurrent_activation), activation(spec.activation)
    i, f, g, o = jnp.split(z, 4, axis=-1)
    c = gate(f) * c + gate(i) * act(g)
    return gate(o) * act(c), c


def _gru_step(spec: s.GRU, p: Weights, xw: Array, st: States, rd: Array | None) -> States:
    """h = z * h + (1 - z) * activation(x W_h + r * (h U_h + b_rec)) (or (r * h) U_h)"""
    (h,) = st
    gate, act, u = activation(spec.recurrent_activation), activation(spec.activation), spec.units
    kernel, hd = p["recurrent_kernel"], _dropped(h, rd)
    xz, xr, xh = jnp.split(xw, 3, axis=-1)
    if spec.reset_after:
        inner = hd @ kernel
        if spec.use_bias:
            inner = add_bias(inner, p["bias"][1])
        hz, hr, hh = jnp.split(inner, 3, axis=-1)
        z, r = gate(xz + hz), gate(xr + hr)
        candidate = act(xh + r * hh)
    else:
        hz, hr = jnp.split(hd @ kernel[:, : 2 * u], 2, axis=-1)
        z, r = gate(xz + hz), gate(xr + hr)
        candidate = act(xh + (r * hd) @ kernel[:, 2 * u :])
    return (z * h + (1.0 - z) * candidate,)


def _conv_lstm_step(
    spec: s.ConvLSTM2D, p: Weights, xw: Array, st: States, rd: Array | None
) -> States:
    """The LSTM step with a `same`, stride-1 convolution as the recurrent transform."""
    h, c = st
    gate, act = activation(spec.recurrent_activation), activation(spec.activation)
    kernel = p["recurrent_kernel"]
    recurrent = jax.lax.conv_general_dilated(
        _dropped(h, rd),
        kernel,
        window_strides=(1, 1),
        padding=padding_pairs(kernel.shape[:2], kernel.shape[:2], (1, 1), "same"),
        dimension_numbers=conv_dimension_numbers(2, spec.data_format),
    )
    i, f, g, o = jnp.split(xw + recurrent, 4, axis=channel_axis(spec.data_format))
    c = gate(f) * c + gate(i) * act(g)
    return gate(o) * act(c), c


def _conv_project(spec: s.ConvLSTM2D, p: Weights, xt: Array) -> Array:
    """The input convolution of one timestep (the layer's strides, padding, dilation)."""
    kernel = p["kernel"]
    spatial, _ = split_shape(xt.shape, spec.data_format)
    sizes, strides, dilation = (
        [int(n) for n in spatial], per_axis(spec.strides, 2), per_axis(spec.dilation_rate, 2)
    )  # fmt: skip
    return jax.lax.conv_general_dilated(
        xt,
        kernel,
        window_strides=strides,
        padding=padding_pairs(sizes, kernel.shape[:2], strides, spec.padding, dilation),
        rhs_dilation=dilation,
        dimension_numbers=conv_dimension_numbers(2, spec.data_format),
    )


def conv_out_spatial(spec: s.ConvLSTM2D, spatial: Shape) -> tuple[int | None, ...]:
    kernel, strides = per_axis(spec.kernel_size, 2), per_axis(spec.strides, 2)
    dilation = per_axis(spec.dilation_rate, 2)
    return tuple(
        output_length(n, k, st, spec.padding, d)
        for n, k, st, d in zip(spatial, kernel, strides, dilation, strict=True)
    )


def conv_state_shape(spec: s.ConvLSTM2D, x_shape: tuple[int, ...]) -> tuple[int, ...]:
    step = (x_shape[0], *x_shape[2:])
    spatial, _ = split_shape(step, spec.data_format)
    out = conv_out_spatial(spec, spatial)
    return tuple(join_shape(x_shape[0], out, spec.filters, spec.data_format))  # type: ignore[arg-type]


def preactivation(xw: Array, h: Array, rd: Array | None, recurrent: Array) -> Array:
    """An additive cell's `z = x W + b + (h * rd) U`, from the input projection `xw`."""
    return xw + _dropped(h, rd) @ recurrent


def hold_masked(new: States, previous: States, mask: Array | None) -> States:
    """The step's new states, or the previous ones where the timestep `mask` is False (Keras:
    a masked step carries the states through)."""
    if mask is None:
        return new
    return tuple(jnp.where(mask, n, p) for n, p in zip(new, previous, strict=True))


def _dropped(h: Array, mask: Array | None) -> Array:
    return h if mask is None else h * mask


def _units(spec: s.Recurrent | s.ConvLSTM2D) -> int:
    """Size of each state's feature axis: `units`, or ConvLSTM2D's `filters`."""
    return spec.filters if isinstance(spec, s.ConvLSTM2D) else spec.units


def _plain_bias(spec: s.Recurrent | s.ConvLSTM2D, key: Array) -> Array:
    return initialize(spec.bias_initializer, key, (CELLS[type(spec)].gates * _units(spec),))


def lstm_bias(spec: s.LSTM | s.ConvLSTM2D, key: Array) -> Array:
    if not spec.unit_forget_bias:
        return _plain_bias(spec, key)
    u, (k1, k2) = _units(spec), jax.random.split(key)
    first, rest = (initialize(spec.bias_initializer, k, (n,)) for k, n in ((k1, u), (k2, 2 * u)))
    return jnp.concatenate([first, initialize(Ones(), key, (u,)), rest])


def _gru_bias(spec: s.GRU, key: Array) -> Array:
    shape = (2, 3 * spec.units) if spec.reset_after else (3 * spec.units,)
    return initialize(spec.bias_initializer, key, shape)


CELLS: dict[type, Cell] = {
    s.SimpleRNN: Cell(1, ("h",), _plain_bias, lambda spec, p: p["bias"], activate=_simple_activate),
    s.LSTM: Cell(4, ("h", "c"), lstm_bias, lambda spec, p: p["bias"], activate=_lstm_activate),
    s.GRU: Cell(
        3,
        ("h",),
        _gru_bias,
        lambda spec, p: p["bias"][0] if spec.reset_after else p["bias"],
        custom_step=_gru_step,
    ),
    s.ConvLSTM2D: Cell(
        4,
        ("h", "c"),
        lstm_bias,
        lambda spec, p: p["bias"],
        custom_step=_conv_lstm_step,
        project=_conv_project,
        state_shape=conv_state_shape,
    ),
}


def state_names(spec: s.Recurrent | s.ConvLSTM2D) -> tuple[str, ...]:
    """The states a recurrent layer carries (`("h", "c")` for LSTM), in Keras order."""
    return CELLS[type(spec)].states
