"""Keras 3 initializers in JAX: same distributions, same fan rules, same defaults.

Flax and Equinox defaults differ from Keras (e.g. lecun_normal kernels), so kspec implements
Keras' definitions itself; a parity test compares the statistics with Keras.
"""

from __future__ import annotations

import math
from typing import Any

from kspec.compiler.deferred import Array, jax, jnp
from kspec.schemas import fields as f

Shape = tuple[int, ...]

_TRUNCATED_STDDEV_FIX = 0.87962566103423978  # stddev of a unit normal truncated to [-2, 2]


def compute_fans(shape: Shape) -> tuple[float, float]:
    """Keras' fan rule: kernels (..., in, out) multiply by the receptive field size."""
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    receptive = math.prod(shape[:-2])
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


def _variance_scaling(
    key: Array, shape: Shape, dtype: jnp.dtype, scale: float, mode: str, distribution: str
) -> Array:
    fan_in, fan_out = compute_fans(shape)
    fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[mode]
    scale /= max(1.0, fan)
    if distribution == "truncated_normal":
        stddev = math.sqrt(scale) / _TRUNCATED_STDDEV_FIX
        return stddev * jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype)
    if distribution == "untruncated_normal":
        return math.sqrt(scale) * jax.random.normal(key, shape, dtype)
    limit = math.sqrt(3.0 * scale)
    return jax.random.uniform(key, shape, dtype, -limit, limit)


def _orthogonal(key: Array, shape: Shape, dtype: jnp.dtype, gain: float) -> Array:
    if len(shape) < 2:
        raise ValueError(f"the Orthogonal initializer needs rank >= 2. Received: shape={shape}")
    rows, cols = math.prod(shape[:-1]), shape[-1]
    flat = (max(rows, cols), min(rows, cols))
    q, r = jnp.linalg.qr(jax.random.normal(key, flat, jnp.float32))
    q = q * jnp.sign(jnp.diag(r))[None, :]  # explicit broadcast: rank promotion is an error
    if rows < cols:
        q = q.T
    return (gain * q).reshape(shape).astype(dtype)


_SCALING = {
    "GlorotUniform": (1.0, "fan_avg", "uniform"),
    "GlorotNormal": (1.0, "fan_avg", "truncated_normal"),
    "HeUniform": (2.0, "fan_in", "uniform"),
    "HeNormal": (2.0, "fan_in", "truncated_normal"),
    "LecunUniform": (1.0, "fan_in", "uniform"),
    "LecunNormal": (1.0, "fan_in", "truncated_normal"),
}


def initialize(spec: f.SpecModel, key: Array, shape: Shape, dtype: Any = "float32") -> Array:
    """Draw a weight of `shape` as the initializer `spec` says; a `seed` replaces `key`."""
    seed = getattr(spec, "seed", None)
    if seed is not None:
        key = jax.random.PRNGKey(seed)
    match spec:
        case f.Zeros():
            return jnp.zeros(shape, dtype)
        case f.Ones():
            return jnp.ones(shape, dtype)
        case f.Constant(value=value):
            return jnp.full(shape, value, dtype)
        case f.RandomNormal(mean=mean, stddev=stddev):
            return mean + stddev * jax.random.normal(key, shape, dtype)
        case f.RandomUniform(minval=lo, maxval=hi):
            return jax.random.uniform(key, shape, dtype, lo, hi)
        case f.TruncatedNormal(mean=mean, stddev=stddev):
            return mean + stddev * jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype)
        case f.VarianceScaling(scale=scale, mode=mode, distribution=distribution):
            return _variance_scaling(key, shape, dtype, scale, mode, distribution)
        case f.Orthogonal(gain=gain):
            return _orthogonal(key, shape, dtype, gain)
        case f.Identity(gain=gain):
            if len(shape) != 2:
                raise ValueError(f"the Identity initializer needs rank 2. Received: shape={shape}")
            return gain * jnp.eye(shape[0], shape[1], dtype=dtype)
    scale, mode, distribution = _SCALING[spec.type]  # type: ignore[attr-defined]
    return _variance_scaling(key, shape, dtype, scale, mode, distribution)
