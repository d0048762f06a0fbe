"""Lowerings of TimeDistributed and Bidirectional: they run the wrapped layer's own lowering,
which the compiler's lookup gives them (`Composite.bind`), so any layer type can be wrapped.

Inner weights live under the wrapper's node: TimeDistributed keeps the inner names
(`kernel`, `bias`), Bidirectional prefixes them `forward_` / `backward_` (Keras order: all
forward weights, then all backward ones).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from kspec.compiler.deferred import jax, jnp
from kspec.compiler.layers.recurrent_cells import state_names
from kspec.compiler.lowering import (
    Array,
    BuildEnv,
    Composite,
    LayerCall,
    LayerWeights,
    Lowering,
    Resolve,
    Shape,
    WeightRule,
    Weights,
    expect_inputs,
    expect_rank,
    format_shape,
)
from kspec.compiler.precision import WRAPPER, apply_with_policy, init_with_policy
from kspec.compiler.regularizers import activity_penalty
from kspec.errors import ShapeError
from kspec.schemas.base import LayerSpec
from kspec.schemas.layers import wrappers as s

# Running a wrapped layer ----------------------------------------------------------------------


def _prefixed_rules(rules: list[WeightRule], prefix: str) -> list[WeightRule]:
    return [(prefix + weight, rule) for weight, rule in rules]


def _prefixed(weights: Weights, prefix: str) -> Weights:
    return {prefix + name: w for name, w in weights.items()}


def _unprefixed(weights: Weights, prefix: str) -> Weights:
    return {n[len(prefix) :]: w for n, w in weights.items() if n.startswith(prefix)}


def _run(
    inner_lowering: Lowering[Any],
    spec: LayerSpec,
    params: Weights,
    inputs: list[Array],
    call: LayerCall,
    *,
    prefix: str = "",
    masks: list[Array | None] | None = None,
    rng: Array | None = None,
) -> tuple[list[Array], Weights | None]:
    """Apply a wrapped layer: its weights and state are the wrapper's under `prefix`; its added
    losses (and activity regularizer, as Keras applies it on the inner call) become the
    wrapper's. Returns the outputs and the inner layer's new state (None if unchanged)."""
    inner = LayerCall(
        training=call.training,
        rng=call.rng if rng is None else rng,
        masks=masks if masks is not None else [None] * len(inputs),
        state=_unprefixed(call.state, prefix),
        env=call.env,
    )
    outputs = apply_with_policy(inner_lowering, spec, _unprefixed(params, prefix), inputs, inner)
    for loss in inner.losses:
        call.add_loss(loss)
    activity = getattr(spec, "activity_regularizer", None)
    if activity is not None:
        for y in outputs:
            call.add_loss(activity_penalty(activity, y))
    new = None if inner.new_state is None else _prefixed(inner.new_state, prefix)
    return outputs, new


def _init(
    lowering: Lowering[Any], spec: LayerSpec, key: Array, shapes: list[Shape], prefix: str = ""
) -> LayerWeights:
    w = init_with_policy(lowering, spec, key, shapes)
    order = tuple(prefix + n for n in w.order) if w.order is not None else None
    return LayerWeights(_prefixed(w.params, prefix), _prefixed(w.state, prefix), order)


# TimeDistributed ------------------------------------------------------------------------------


def _td_inner_shape(x: Shape) -> Shape:
    batch, steps = x[0], x[1]
    return (None if batch is None or steps is None else batch * steps, *x[2:])


def _bind_time_distributed(
    spec: s.TimeDistributed, resolve: Resolve
) -> Lowering[s.TimeDistributed]:
    """TimeDistributed over the lowering of the layer it holds."""
    inner = resolve(spec.layer)

    def infer_shape(spec: s.TimeDistributed, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
        expect_inputs(spec, shapes, 1)
        expect_rank(spec, shapes[0], 3)
        if not inner.wrappable:
            raise ShapeError(
                f"TimeDistributed cannot wrap {type(spec.layer).__name__}: the layer declares "
                "that it cannot run with time folded into the batch"
            )
        x = shapes[0]
        out = inner.infer_shape(spec.layer, [_td_inner_shape(x)], env)
        if len(out) != 1:
            raise ShapeError(
                "TimeDistributed wraps a layer with one output. Received: "
                f"{type(spec.layer).__name__} with {len(out)} outputs"
            )
        return [(x[0], x[1], *out[0][1:])]

    def init(spec: s.TimeDistributed, key: Array, shapes: list[Shape]) -> LayerWeights:
        return _init(inner, spec.layer, key, [_td_inner_shape(shapes[0])])

    def apply(
        spec: s.TimeDistributed, params: Weights, inputs: list[Array], call: LayerCall
    ) -> list[Array]:
        """y[:, t] = layer(x[:, t]): the time axis folded into the batch, one call, unfolded."""
        x = inputs[0]
        batch, steps = x.shape[:2]
        folded = [x.reshape(batch * steps, *x.shape[2:])]
        (y,), new_state = _run(inner, spec.layer, params, folded, call)
        if new_state is not None:
            call.update_state(new_state)
        return [y.reshape(batch, steps, *y.shape[1:])]

    return Lowering(
        s.TimeDistributed,
        infer_shape,
        apply,
        init,
        mask="propagate",
        nested_rules=lambda spec: inner.weight_rules(spec.layer),
        precision=WRAPPER,
    )


# Bidirectional --------------------------------------------------------------------------------

_DIRECTIONS = ("forward_", "backward_")


Pair = tuple[Lowering[Any], Lowering[Any]]
"""The lowerings of the forward and the backward layer."""


def _bi_shape(pair: Pair, spec: s.Bidirectional, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    forward, backward = spec.directions()
    x, initial = shapes[0], shapes[1:]
    if len(initial) % 2:
        raise ShapeError(
            "Bidirectional takes the sequence, then the forward and the backward initial states "
            f"(as many of each). Received: {len(shapes)} inputs"
        )
    half = len(initial) // 2
    f_out = pair[0].infer_shape(forward, [x, *initial[:half]], env)
    b_out = pair[1].infer_shape(backward, [x, *initial[half:]], env)
    f_y, b_y = f_out[0], b_out[0]
    if spec.merge_mode is None:
        merged = [f_y, b_y]
    elif spec.merge_mode == "concat":
        last = None if f_y[-1] is None or b_y[-1] is None else f_y[-1] + b_y[-1]
        merged = [(*f_y[:-1], last)]
    elif f_y != b_y:
        raise ShapeError(
            f"merge_mode='{spec.merge_mode}' needs equal forward and backward output shapes. "
            f"Received: {format_shape(f_y)} and {format_shape(b_y)}"
        )
    else:
        merged = [f_y]
    return [*merged, *f_out[1:], *b_out[1:]]


def _bi_init(pair: Pair, spec: s.Bidirectional, key: Array, shapes: list[Shape]) -> LayerWeights:
    keys = jax.random.split(key)
    parts = [
        _init(lowering, layer, k, shapes[:1], prefix)
        for lowering, layer, k, prefix in zip(
            pair, spec.directions(), keys, _DIRECTIONS, strict=True
        )
    ]
    order = tuple(n for part in parts for n in (part.order or [*part.params, *part.state]))
    return LayerWeights(
        {**parts[0].params, **parts[1].params}, {**parts[0].state, **parts[1].state}, order
    )


def _bi_apply(
    pair: Pair, spec: s.Bidirectional, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """Both directions on the same sequence; the backward output is put back in forward time
    order. With a mask and return_sequences, masked steps output zeros (Keras forces
    `zero_output_for_mask` inside Bidirectional)."""
    x, initial = inputs[0], inputs[1:]
    mask = call.masks[0] if call.masks else None
    half = len(initial) // 2
    results, new_state = [], {}
    directions = zip(pair, spec.directions(), _DIRECTIONS, strict=True)
    for i, (lowering, layer, prefix) in enumerate(directions):
        states = initial[:half] if i == 0 else initial[half:]
        rng = None if call.rng is None else jax.random.fold_in(call.rng, i)
        outs, new = _run(
            lowering, layer, params, [x, *states], call, prefix=prefix, masks=[mask], rng=rng
        )
        y = outs[0]
        if mask is not None and layer.return_sequences:  # type: ignore[attr-defined]
            step_mask = mask[:, ::-1] if layer.go_backwards else mask  # type: ignore[attr-defined]
            y = jnp.where(step_mask[:, :, None], y, jnp.zeros_like(y))
        results.append((y, outs[1:]))
        new_state |= new or {}
    if new_state:
        call.update_state(new_state)
    (y, f_states), (y_rev, b_states) = results
    if spec.layer.return_sequences:  # type: ignore[attr-defined]
        y_rev = y_rev[:, ::-1]
    return [*_merge(spec.merge_mode, y, y_rev), *f_states, *b_states]


def _merge(mode: str | None, y: Array, y_rev: Array) -> list[Array]:
    if mode is None:
        return [y, y_rev]
    if mode == "concat":
        return [jnp.concatenate([y, y_rev], axis=-1)]
    if mode == "sum":
        return [y + y_rev]
    if mode == "mul":
        return [y * y_rev]
    return [(y + y_rev) / 2]


def _bi_outputs(spec: s.Bidirectional) -> tuple[int, int]:
    """(merged outputs, states per direction)."""
    returns_state = spec.layer.return_state  # type: ignore[attr-defined]
    states = len(state_names(spec.layer)) if returns_state else 0
    return (2 if spec.merge_mode is None else 1), states


def _bi_mask(
    spec: s.Bidirectional, masks: list[Array | None], inputs: list[Array]
) -> list[Array | None]:
    merged, states = _bi_outputs(spec)
    seqs = spec.layer.return_sequences  # type: ignore[attr-defined]
    out = masks[0] if masks and seqs else None
    return [out] * merged + [None] * (2 * states)


def _bi_masks_output(spec: s.Bidirectional, masked: list[bool]) -> list[bool]:
    merged, states = _bi_outputs(spec)
    seqs = spec.layer.return_sequences  # type: ignore[attr-defined]
    return [bool(masked and masked[0] and seqs)] * merged + [False] * (2 * states)


def _bind_bidirectional(spec: s.Bidirectional, resolve: Resolve) -> Lowering[s.Bidirectional]:
    """Bidirectional over the lowerings of its forward and backward layers."""
    forward, backward = spec.directions()
    pair = (resolve(forward), resolve(backward))

    def nested_rules(spec: s.Bidirectional) -> list[WeightRule]:
        return [
            rule
            for lowering, layer, prefix in zip(pair, spec.directions(), _DIRECTIONS, strict=True)
            for rule in _prefixed_rules(lowering.weight_rules(layer), prefix)
        ]

    return Lowering(
        s.Bidirectional,
        partial(_bi_shape, pair),
        partial(_bi_apply, pair),
        partial(_bi_init, pair),
        compute_mask=_bi_mask,
        mask="consume",
        masks_output=_bi_masks_output,
        nested_rules=nested_rules,
        precision=WRAPPER,
    )


LOWERINGS: list[Composite[Any]] = [
    Composite(s.TimeDistributed, _bind_time_distributed),
    Composite(s.Bidirectional, _bind_bidirectional),
]
