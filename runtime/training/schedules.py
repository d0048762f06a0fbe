"""Keras 3 learning-rate schedules as pure functions of the optimizer step (an optax schedule).

Each follows `keras/src/optimizers/schedules/learning_rate_schedule.py` operation for
operation, in float32 as Keras computes them, so the rates agree to float rounding. The step
is optax's count, 0 at the first update, which is Keras' `optimizer.iterations`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from pydantic import TypeAdapter

from kspec.schemas.schedules import (
    CosineDecay,
    CosineDecayRestarts,
    ExponentialDecay,
    InverseTimeDecay,
    PiecewiseConstantDecay,
    PolynomialDecay,
    Schedule,
)

Array = jax.Array
F32 = jnp.float32


def _steps(step: Array) -> Array:
    return jnp.asarray(step).astype(F32)


def exponential_decay(s: ExponentialDecay, step: Array) -> Array:
    p = _steps(step) / F32(s.decay_steps)
    p = jnp.floor(p) if s.staircase else p
    return F32(s.initial_learning_rate) * jnp.power(F32(s.decay_rate), p)


def piecewise_constant_decay(s: PiecewiseConstantDecay, step: Array) -> Array:
    """Keras' sum of interval indicators times values (boundaries compared as integers)."""
    step = jnp.asarray(step)
    bounds = [jnp.asarray(b, step.dtype) for b in s.boundaries]
    result = (step <= bounds[0]).astype(F32) * F32(s.values[0])
    result += (step > bounds[-1]).astype(F32) * F32(s.values[-1])
    for low, high, value in zip(bounds[:-1], bounds[1:], s.values[1:-1], strict=True):
        result += ((step > low) & (step <= high)).astype(F32) * F32(value)
    return result


def polynomial_decay(s: PolynomialDecay, step: Array) -> Array:
    step, decay_steps = _steps(step), F32(s.decay_steps)
    if s.cycle:  # decay over the first multiple of decay_steps past the step
        decay_steps = decay_steps * jnp.where(step == 0, F32(1.0), jnp.ceil(step / decay_steps))
    else:
        step = jnp.minimum(step, decay_steps)
    initial, end = F32(s.initial_learning_rate), F32(s.end_learning_rate)
    return (initial - end) * jnp.power(1 - step / decay_steps, F32(s.power)) + end


def inverse_time_decay(s: InverseTimeDecay, step: Array) -> Array:
    p = _steps(step) / F32(s.decay_steps)
    p = jnp.floor(p) if s.staircase else p
    return F32(s.initial_learning_rate) / (F32(1.0) + F32(s.decay_rate) * p)


def _cosine(step: Array, decay_steps: Array, start: Array, alpha: float) -> Array:
    cosine = 0.5 * (1.0 + jnp.cos(F32(math.pi) * (step / decay_steps)))
    return start * ((1 - alpha) * cosine + alpha)


def cosine_decay(s: CosineDecay, step: Array) -> Array:
    """Linear warmup from the initial rate to `warmup_target` (if set), then cosine decay."""
    step, decay_steps = _steps(step), F32(s.decay_steps)
    initial = F32(s.initial_learning_rate)
    if s.warmup_target is None:
        return _cosine(jnp.minimum(step, decay_steps), decay_steps, initial, s.alpha)
    target, warmup = F32(s.warmup_target), F32(s.warmup_steps)
    step = jnp.minimum(step, decay_steps + warmup)
    warming = (target - initial) * (step / jnp.maximum(warmup, 1.0)) + initial
    decaying = _cosine(step - warmup, decay_steps, target, s.alpha)
    return jnp.where(step < warmup, warming, decaying)


def cosine_decay_restarts(s: CosineDecayRestarts, step: Array) -> Array:
    """SGDR: restart `i` lasts `first_decay_steps * t_mul**i` and peaks at `m_mul**i`."""
    fraction = _steps(step) / F32(s.first_decay_steps)
    t_mul = F32(s.t_mul)
    if s.t_mul == 1.0:
        restart = jnp.floor(fraction)
        fraction = fraction - restart
    else:
        restart = jnp.floor(jnp.log(1.0 - fraction * (1.0 - t_mul)) / jnp.log(t_mul))
        done = (1.0 - jnp.power(t_mul, restart)) / (1.0 - t_mul)
        fraction = (fraction - done) / jnp.power(t_mul, restart)
    peak = jnp.power(F32(s.m_mul), restart)
    cosine = 0.5 * peak * (1.0 + jnp.cos(F32(math.pi) * fraction))
    alpha = F32(s.alpha)
    return F32(s.initial_learning_rate) * ((1 - alpha) * cosine + alpha)


LOWERINGS: dict[type, Callable[[Any, Array], Array]] = {
    ExponentialDecay: exponential_decay,
    PiecewiseConstantDecay: piecewise_constant_decay,
    PolynomialDecay: polynomial_decay,
    InverseTimeDecay: inverse_time_decay,
    CosineDecay: cosine_decay,
    CosineDecayRestarts: cosine_decay_restarts,
}
_SCHEDULE: TypeAdapter[Any] = TypeAdapter(Schedule)


def get_schedule(spec: Mapping[str, Any] | Any) -> Callable[[Array], Array]:
    """`step -> learning rate` for a schedule spec: `{"schedule": "cosine_decay", ...}` (checked
    like a spec's) or an already validated schema object."""
    if isinstance(spec, Mapping):
        spec = _SCHEDULE.validate_python(dict(spec))
    return partial(LOWERINGS[type(spec)], spec)


__all__ = ["LOWERINGS", "get_schedule"]
