"""Lowerings of SimpleRNN, LSTM, GRU and ConvLSTM2D: one recurrence driver over `lax.scan`;
the cells differ only in their step function, their number of gates and states, their bias,
and (ConvLSTM2D) their input projection and state shape."""

from __future__ import annotations

from functools import partial
from typing import Any

from kspec.compiler.deferred import jax, jnp
from kspec.compiler.dropout import keep_mask
from kspec.compiler.initializers import initialize
from kspec.compiler.layers.recurrent_batched import batched_recurrence
from kspec.compiler.layers.recurrent_cells import (
    CELLS,
    Cell,
    States,
    conv_out_spatial,
    conv_state_shape,
    hold_masked,
    lstm_bias,
)
from kspec.compiler.layers.spatial import (
    channel_axis,
    join_shape,
    per_axis,
    split_shape,
)
from kspec.compiler.lowering import (
    Array,
    BuildEnv,
    LayerCall,
    LayerWeights,
    Lowering,
    Shape,
    Weights,
    add_bias,
    expect_rank,
    format_shape,
    regularized,
)
from kspec.compiler.options import LoweringOptions
from kspec.errors import ShapeError
from kspec.schemas.layers import recurrent as s

# Shape, init ----------------------------------------------------------------------------------


def _rnn_shape(spec: s.Recurrent, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    name, cell, units = type(spec).__name__, CELLS[type(spec)], spec.units
    count = len(cell.states)
    if len(shapes) not in (1, 1 + count):
        raise ShapeError(
            f"{name} takes 1 input, or 1 + {count} with initial states. "
            f"Received: {len(shapes)} inputs"
        )
    x = shapes[0]
    expect_rank(spec, x, 3, exactly=True)
    if x[-1] is None:
        raise ShapeError(f"{name} needs a known last dimension. Received: shape={format_shape(x)}")
    for state in shapes[1:]:
        if len(state) != 2 or state[1] not in (None, units):
            raise ShapeError(
                f"each initial state of {name} must have shape (batch, {units}). "
                f"Received: shape={format_shape(state)}"
            )
    if spec.stateful and x[0] is None:
        raise ShapeError(
            f"stateful=True needs a fixed batch size: give the model input a `batch_size`. "
            f"Received: shape={format_shape(x)}"
        )
    if spec.unroll and x[1] is None:
        raise ShapeError(
            f"unroll=True needs a known number of timesteps. Received: shape={format_shape(x)}"
        )
    out = (x[0], x[1], units) if spec.return_sequences else (x[0], units)
    return [out, *([(x[0], units)] * count if spec.return_state else [])]


def _rnn_init(spec: s.Recurrent, key: Array, shapes: list[Shape]) -> LayerWeights:
    cell, units = CELLS[type(spec)], spec.units
    k_kernel, k_rec, k_bias = jax.random.split(key, 3)
    features = shapes[0][-1]
    assert features is not None
    params = {
        "kernel": initialize(spec.kernel_initializer, k_kernel, (features, cell.gates * units)),
        "recurrent_kernel": initialize(
            spec.recurrent_initializer, k_rec, (units, cell.gates * units)
        ),
    }
    if spec.use_bias:
        params["bias"] = cell.bias(spec, k_bias)
    state = {}
    if spec.stateful:  # carried across calls; not a Keras weight, so left out of `order`
        batch = shapes[0][0]
        state = {name: jnp.zeros((batch, units)) for name in cell.states}
    return LayerWeights(params, state, tuple(params))


def _conv_lstm_shape(spec: s.ConvLSTM2D, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    name, fmt = "ConvLSTM2D", spec.data_format
    if len(shapes) not in (1, 3):
        raise ShapeError(
            f"{name} takes 1 input, or 1 + 2 with initial states. Received: {len(shapes)} inputs"
        )
    x = shapes[0]
    expect_rank(spec, x, 5, exactly=True)
    spatial, channels = split_shape((x[0], *x[2:]), fmt)
    if channels is None:
        raise ShapeError(
            f"{name} needs a known channel dimension ({fmt or 'channels_last'}). "
            f"Received: shape={format_shape(x)}"
        )
    out = conv_out_spatial(spec, spatial)
    if any(n is not None and n <= 0 for n in out):
        raise ShapeError(
            f"the kernel of {name} does not fit its input: output size {out}. "
            f"Received: shape={format_shape(x)}"
        )
    state = join_shape(x[0], out, spec.filters, fmt)
    for given in shapes[1:]:
        if len(given) != 4 or any(
            g not in (None, e) for g, e in zip(given[1:], state[1:], strict=True)
        ):
            raise ShapeError(
                f"each initial state of {name} must have shape {format_shape(state)}. "
                f"Received: shape={format_shape(given)}"
            )
    if spec.stateful and (x[0] is None or None in out):
        raise ShapeError(
            f"stateful=True needs a fixed batch size: give the model input a `batch_size`. "
            f"Received: shape={format_shape(x)}"
        )
    if spec.unroll and x[1] is None:
        raise ShapeError(
            f"unroll=True needs a known number of timesteps. Received: shape={format_shape(x)}"
        )
    seq = (state[0], x[1], *state[1:]) if spec.return_sequences else state
    return [seq, *([state] * 2 if spec.return_state else [])]


def _conv_lstm_init(spec: s.ConvLSTM2D, key: Array, shapes: list[Shape]) -> LayerWeights:
    kernel, filters = per_axis(spec.kernel_size, 2), spec.filters
    x = shapes[0]
    _, channels = split_shape((x[0], *x[2:]), spec.data_format)
    assert channels is not None
    k_kernel, k_rec, k_bias = jax.random.split(key, 3)
    params = {
        "kernel": initialize(spec.kernel_initializer, k_kernel, (*kernel, channels, 4 * filters)),
        "recurrent_kernel": initialize(
            spec.recurrent_initializer, k_rec, (*kernel, filters, 4 * filters)
        ),
    }
    if spec.use_bias:
        params["bias"] = lstm_bias(spec, k_bias)
    state = {}
    if spec.stateful:  # carried across calls; not a Keras weight, so left out of `order`
        shape = conv_state_shape(spec, x)  # type: ignore[arg-type]
        state = {name: jnp.zeros(shape) for name in ("h", "c")}
    return LayerWeights(params, state, tuple(params))


# Apply ----------------------------------------------------------------------------------------


def _rnn_apply(
    spec: s.Recurrent, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """Run the cell over time; masked steps keep the previous states and output."""
    cell = CELLS[type(spec)]
    x, mask = inputs[0], call.masks[0] if call.masks else None
    batch = x.shape[0]
    shape = _state_shape(spec, x.shape)
    if len(inputs) > 1:
        states = tuple(inputs[1:])
    elif spec.stateful:
        states = tuple(call.state[name] for name in cell.states)
    else:
        states = tuple(jnp.zeros(shape, x.dtype) for _ in cell.states)
    x_mask, state_mask = _dropout_masks(spec, call, (batch, *x.shape[2:]), shape, x.dtype)
    if x_mask is not None:
        x = x * jnp.expand_dims(x_mask, 1)
    if spec.go_backwards:
        x, mask = x[:, ::-1], None if mask is None else mask[:, ::-1]
    final, outputs = _recurrence(
        spec, cell, params, x, (mask, state_mask), states, call.env.lowering
    )
    if spec.stateful:
        call.update_state(dict(zip(cell.states, final, strict=True)))
    out = jnp.swapaxes(outputs, 0, 1) if spec.return_sequences else final[0]
    return [out, *(final if spec.return_state else ())]


def _recurrence(
    spec: s.Recurrent,
    cell: Cell,
    params: Weights,
    x: Array,
    masks: tuple[Array | None, Array | None],
    states: States,
    lowering: LoweringOptions,
) -> tuple[States, Array | None]:
    """Final states, and the time-major outputs when `return_sequences` (else None). `masks`:
    the timestep mask and the recurrent-dropout mask; `lowering` says whether every
    timestep's input is projected before the scan and how many steps one scan trip runs
    (`rnn_input_projection`, `rnn_scan_unroll`), and whether an additive cell's weight
    gradients are computed after the backward scan (`rnn_weight_grad`)."""
    mask, state_mask = masks
    bias = cell.input_bias(spec, params) if spec.use_bias else None

    axis = channel_axis(getattr(spec, "data_format", "channels_last"))

    def project(xt: Array) -> Array:
        y = xt @ params["kernel"] if cell.project is None else cell.project(spec, params, xt)
        return y if bias is None else add_bias(y, bias, axis)

    xs = jnp.swapaxes(x, 0, 1)
    hoist = lowering.hoist_input_projection() and cell.project is None
    if hoist:
        xs = project(xs)
    ms = None
    if mask is not None:  # (time, batch, 1, ...): broadcast against each state
        ms = jnp.swapaxes(mask, 0, 1).reshape(*mask.shape[1::-1], *[1] * (states[0].ndim - 1))
    if (
        cell.activate is not None
        and not (hoist or spec.unroll)
        and lowering.batch_rnn_weight_grad()
    ):
        weights = (params["kernel"], bias, params["recurrent_kernel"])
        return batched_recurrence(
            partial(cell.activate, spec), weights, xs, (ms, state_mask), states,
            spec.return_sequences, lowering.scan_unroll(),
        )  # fmt: skip

    def body(carry: States, step_in: tuple[Array, Array | None]) -> tuple[States, Any]:
        xt, mt = step_in
        xw = xt if hoist else project(xt)
        new = hold_masked(cell.step(spec, params, xw, carry, state_mask), carry, mt)
        return new, new[0] if spec.return_sequences else None

    if not spec.unroll:
        return jax.lax.scan(body, states, (xs, ms), unroll=lowering.scan_unroll())
    collected = []
    for t in range(xs.shape[0]):
        states, y = body(states, (xs[t], None if ms is None else ms[t]))
        collected.append(y)
    return states, jnp.stack(collected) if spec.return_sequences else None


def _state_shape(spec: s.Recurrent | s.ConvLSTM2D, x_shape: tuple[int, ...]) -> tuple[int, ...]:
    shape = CELLS[type(spec)].state_shape
    return (x_shape[0], spec.units) if shape is None else shape(spec, x_shape)


def _dropout_masks(
    spec: s.Recurrent | s.ConvLSTM2D,
    call: LayerCall,
    x_step: tuple[int, ...],
    state: tuple[int, ...],
    dtype: Any,
) -> tuple[Array | None, Array | None]:
    """Training only: one keep mask for the inputs and one for the state, fixed across time
    (Keras' DropoutRNNCell), already scaled by 1/(1 - rate)."""
    if not call.training or (spec.dropout == 0.0 and spec.recurrent_dropout == 0.0):
        return None, None
    rng = call.need_rng(type(spec).__name__)
    if spec.seed is not None:
        rng = jax.random.fold_in(rng, spec.seed)
    x_key, h_key = jax.random.split(rng)
    packed = call.env.lowering.packed_dropout_masks()

    def keep(key: Array, rate: float, shape: tuple[int, ...]) -> Array | None:
        if rate == 0.0:
            return None
        return keep_mask(key, 1.0 - rate, shape, packed).astype(dtype) / (1.0 - rate)

    return keep(x_key, spec.dropout, x_step), keep(h_key, spec.recurrent_dropout, state)


def _rnn_mask(
    spec: s.Recurrent, masks: list[Array | None], inputs: list[Array]
) -> list[Array | None]:
    # Keras passes the input mask on unchanged, even when reading backwards
    out = masks[0] if masks and spec.return_sequences else None
    return [out, *([None] * len(CELLS[type(spec)].states) if spec.return_state else [])]


def _rnn_masks_output(spec: s.Recurrent, masked: list[bool]) -> list[bool]:
    states = len(CELLS[type(spec)].states) if spec.return_state else 0
    return [bool(masked and masked[0] and spec.return_sequences)] + [False] * states


_RULES = regularized(kernel="kernel", recurrent="recurrent_kernel", bias="bias")
_lowering = partial(
    Lowering,
    infer_shape=_rnn_shape,
    apply=_rnn_apply,
    init=_rnn_init,
    compute_mask=_rnn_mask,
    mask="consume",
    masks_output=_rnn_masks_output,
    governs=_RULES,
)
LOWERINGS: list[Lowering[Any]] = [
    *(_lowering(cls) for cls in (s.SimpleRNN, s.LSTM, s.GRU)),
    # Keras' ConvLSTM2D fails on a masked input (its cell cannot broadcast a time mask)
    Lowering(
        s.ConvLSTM2D, _conv_lstm_shape, _rnn_apply, _conv_lstm_init, mask="error", governs=_RULES
    ),
]
