"""Lowerings of the core layers: shape rule, init and apply of each, side by side."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from kspec.compiler.activations import activation
from kspec.compiler.deferred import jax, jnp
from kspec.compiler.dropout import dropped
from kspec.compiler.expressions import evaluate
from kspec.compiler.initializers import initialize
from kspec.compiler.lora import effective_weight, lora_weights
from kspec.compiler.lowering import (
    Array,
    BuildEnv,
    LayerCall,
    LayerWeights,
    Lowering,
    Shape,
    Weights,
    add_bias,
    drop_mask,
    expect_inputs,
    expect_rank,
    format_shape,
    regularized,
    same_shape,
)
from kspec.compiler.regularizers import activity_penalty
from kspec.errors import ShapeError
from kspec.schemas.layers import core as s

# Dense ---------------------------------------------------------------------------------------


def _dense_shape(spec: s.Dense, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    expect_inputs(spec, shapes, 1)
    (shape,) = shapes
    expect_rank(spec, shape, 2)
    if shape[-1] is None:
        raise ShapeError(
            f"Dense needs a known last dimension. Received: shape={format_shape(shape)}"
        )
    return [_activated_shape(spec.activation, (*shape[:-1], spec.units))]


def _dense_init(spec: s.Dense, key: Array, shapes: list[Shape]) -> LayerWeights:
    in_features = shapes[0][-1]
    kernel_key, bias_key, lora_key = jax.random.split(key, 3)
    kernel = initialize(spec.kernel_initializer, kernel_key, (in_features, spec.units))
    bias = (
        {"bias": initialize(spec.bias_initializer, bias_key, (spec.units,))}
        if spec.use_bias
        else {}
    )
    return lora_weights(spec, lora_key, "kernel", kernel, bias)


def _dense_apply(
    spec: s.Dense, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """y = activation(x @ kernel + bias)"""
    y = inputs[0] @ effective_weight(spec, params, call, "kernel")
    if spec.use_bias:
        y = add_bias(y, params["bias"])
    return [activation(spec.activation)(y)]


# Element-wise and identity-shaped layers -----------------------------------------------------


def _activated_shape(name: str | None, shape: Shape) -> Shape:
    """The shape after an activation: all keep it except `glu`, which halves the last axis."""
    if name != "glu":
        return shape
    last = shape[-1] if len(shape) > 1 else None
    if last is not None and last % 2:
        raise ShapeError(
            f"glu halves the last axis, which must be even. Received: shape={format_shape(shape)}"
        )
    return (*shape[:-1], None if last is None else last // 2)


def _identity_apply(
    spec: s.Identity, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    return [inputs[0]]


def _activation_shape(spec: s.Activation, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    (shape,) = same_shape(spec, shapes, env)
    return [_activated_shape(spec.activation, shape)]


def _activation_apply(
    spec: s.Activation, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    return [activation(spec.activation)(inputs[0])]


def _dropout_apply(
    spec: s.Dropout, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """Training: x * bernoulli(1 - rate) / (1 - rate); inference: x."""
    (x,) = inputs
    if not call.training or spec.rate == 0.0:
        return [x]
    rng = call.need_rng("Dropout")
    if spec.seed is not None:
        rng = jax.random.fold_in(rng, spec.seed)
    shape = x.shape
    if spec.noise_shape is not None:
        shape = tuple(d if d is not None else x.shape[i] for i, d in enumerate(spec.noise_shape))
    return [dropped(x, spec.rate, rng, call.env.lowering.packed_dropout_masks(), shape)]


def _dropout_shape(spec: s.Dropout, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    (shape,) = same_shape(spec, shapes, env)
    if spec.noise_shape is not None:
        if len(spec.noise_shape) != len(shape):
            raise ShapeError(
                f"noise_shape must have the input's rank {len(shape)} (batch axis included). "
                f"Received: noise_shape={spec.noise_shape}"
            )
        for n, d in zip(spec.noise_shape, shape, strict=True):
            if n not in (None, 1) and d is not None and n != d:
                raise ShapeError(
                    f"noise_shape {spec.noise_shape} does not broadcast to the input shape "
                    f"{format_shape(shape)}"
                )
    return [shape]


def _activity_regularization_apply(
    spec: s.ActivityRegularization, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    if spec.l1 or spec.l2:
        call.add_loss(activity_penalty(spec, inputs[0]))
    return [inputs[0]]


def _masking_apply(
    spec: s.Masking, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    """y = x * any(x != mask_value, axis=-1)"""
    (x,) = inputs
    keep = jnp.any(x != spec.mask_value, axis=-1, keepdims=True)
    return [x * keep.astype(x.dtype)]


def _masking_mask(
    spec: s.Masking, masks: list[Array | None], inputs: list[Array]
) -> list[Array | None]:
    return [jnp.any(inputs[0] != spec.mask_value, axis=-1)]


# Reshaping ------------------------------------------------------------------------------------


def _flatten_shape(spec: s.Flatten, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    expect_inputs(spec, shapes, 1)
    (shape,) = shapes
    expect_rank(spec, shape, 1)
    rest = shape[1:]
    return [(shape[0], None if None in rest else math.prod(rest))]  # type: ignore[arg-type]


def _flatten_apply(
    spec: s.Flatten, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    (x,) = inputs
    if spec.data_format == "channels_first" and x.ndim > 2:
        x = jnp.moveaxis(x, 1, -1)
    return [x.reshape(x.shape[0], -1)]


def _reshape_target(spec: s.Reshape, shape: Shape) -> Shape:
    target = list(spec.target_shape)
    rest = shape[1:]
    if None in rest:
        if -1 in target:
            target[target.index(-1)] = None  # type: ignore[call-overload]
        return (shape[0], *target)
    total = math.prod(rest)  # type: ignore[arg-type]
    known = math.prod(d for d in target if d != -1)
    if -1 in target:
        if total % known:
            raise ShapeError(
                f"cannot reshape {format_shape(shape)} to {tuple(spec.target_shape)}: "
                f"{total} values do not divide into blocks of {known}"
            )
        target[target.index(-1)] = total // known
    elif known != total:
        raise ShapeError(
            f"cannot reshape {format_shape(shape)} ({total} values) to "
            f"{tuple(spec.target_shape)} ({known} values)"
        )
    return (shape[0], *target)


def _reshape_shape(spec: s.Reshape, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    expect_inputs(spec, shapes, 1)
    expect_rank(spec, shapes[0], 1)
    return [_reshape_target(spec, shapes[0])]


def _reshape_apply(
    spec: s.Reshape, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    (x,) = inputs
    return [x.reshape(x.shape[0], *spec.target_shape)]


def _permute_shape(spec: s.Permute, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    expect_inputs(spec, shapes, 1)
    (shape,) = shapes
    expect_rank(spec, shape, len(spec.dims) + 1, exactly=True)
    return [(shape[0], *(shape[d] for d in spec.dims))]


def _permute_apply(
    spec: s.Permute, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    return [jnp.transpose(inputs[0], (0, *spec.dims))]


def _repeat_shape(spec: s.RepeatVector, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    expect_inputs(spec, shapes, 1)
    (shape,) = shapes
    expect_rank(spec, shape, 2, exactly=True)
    return [(shape[0], spec.n, shape[1])]


def _repeat_apply(
    spec: s.RepeatVector, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    (x,) = inputs
    return [jnp.broadcast_to(x[:, None, :], (x.shape[0], spec.n, x.shape[1]))]


# Lambda ---------------------------------------------------------------------------------------


def _lambda_function(spec: s.Lambda, env: BuildEnv) -> Callable[[list[Array]], Any]:
    if spec.function is not None:
        if spec.function not in env.functions:
            known = ", ".join(sorted(env.functions)) or "none"
            raise ShapeError(
                f"Lambda function '{spec.function}' is not registered (registered: {known}); "
                "pass it in code: kspec.load(spec, functions={'" + spec.function + "': fn})"
            )
        fn = env.functions[spec.function]
        return lambda xs: fn(xs[0] if len(xs) == 1 else xs, **spec.arguments)

    def run(xs: list[Array]) -> Any:
        variables = {"inputs": xs, **{f"x{i}": x for i, x in enumerate(xs)}, **spec.arguments}
        variables["x"] = xs[0] if len(xs) == 1 else xs
        return evaluate(spec.expression or "", variables)

    return run


_BATCH_PROBES = (3, 7)  # two batch sizes: an output whose first axis does not follow them
_DIM_PROBES = (5, 11)  # dropped the batch axis; other unknown dims get sizes of their own


def _lambda_shape(spec: s.Lambda, shapes: list[Shape], env: BuildEnv) -> list[Shape]:
    fn = _lambda_function(spec, env)
    if spec.output_shape is not None:
        return [(shapes[0][0], *spec.output_shape)]
    probes = []
    for batch, size in zip(_BATCH_PROBES, _DIM_PROBES, strict=True):
        args = [
            jax.ShapeDtypeStruct(
                tuple((batch if i == 0 else size) if d is None else d for i, d in enumerate(sh)),
                jnp.float32,
            )
            for sh in shapes
        ]
        try:
            out = jax.eval_shape(lambda *xs: fn(list(xs)), *args)
        except Exception as exc:  # a user expression can fail in any way JAX can
            raise ShapeError(
                f"Lambda expression failed on inputs {[format_shape(s) for s in shapes]}: {exc}"
            ) from None
        if not hasattr(out, "shape"):
            raise ShapeError("a Lambda must return one array")
        probes.append(out.shape)
    first, second = probes
    if len(first) != len(second):
        raise ShapeError(
            "the Lambda's output rank depends on unknown input sizes; give output_shape"
        )
    if shapes[0][0] is None and (not first or (first[0], second[0]) != _BATCH_PROBES):
        raise ShapeError(
            f"the Lambda drops the batch axis: on a batch of {_BATCH_PROBES[0]} it returns "
            f"shape {tuple(first)}, on a batch of {_BATCH_PROBES[1]} {tuple(second)}; its "
            "result must keep axis 0 as the batch (reduce over axis=1 and later, not axis=0)"
        )
    return [tuple(a if a == b else None for a, b in zip(first, second, strict=True))]


def _lambda_apply(
    spec: s.Lambda, params: Weights, inputs: list[Array], call: LayerCall
) -> list[Array]:
    return [_lambda_function(spec, call.env)(inputs)]


# Mask policies follow Keras 3's `supports_masking`; the reshaping layers and Lambda keep the
# default `error`: a masked input to them is a compile-time error (Keras drops it silently).
LOWERINGS: list[Lowering[Any]] = [
    Lowering(
        s.Dense,
        _dense_shape,
        _dense_apply,
        _dense_init,
        mask="propagate",
        governs=regularized(kernel="kernel", bias="bias"),
    ),
    Lowering(s.Activation, _activation_shape, _activation_apply, mask="propagate"),
    Lowering(s.Identity, same_shape, _identity_apply, mask="propagate"),
    Lowering(s.Dropout, _dropout_shape, _dropout_apply, mask="propagate"),
    Lowering(s.Flatten, _flatten_shape, _flatten_apply, compute_mask=drop_mask),
    Lowering(s.Reshape, _reshape_shape, _reshape_apply, compute_mask=drop_mask),
    Lowering(s.Permute, _permute_shape, _permute_apply, compute_mask=drop_mask),
    Lowering(s.RepeatVector, _repeat_shape, _repeat_apply, compute_mask=drop_mask),
    Lowering(s.Lambda, _lambda_shape, _lambda_apply, compute_mask=drop_mask, couples_rows=True),
    Lowering(
        s.ActivityRegularization, same_shape, _activity_regularization_apply, mask="propagate"
    ),
    Lowering(
        s.Masking,
        same_shape,
        _masking_apply,
        compute_mask=_masking_mask,
        mask="propagate",
        masks_output=lambda spec, masked: [True],
    ),
]
