"""Dynamic loss scaling with Keras 3's `LossScaleOptimizer` semantics, as an optax wrapper.

From `keras/src/optimizers/loss_scale_optimizer.py`: the train step multiplies the loss by
the current scale (initially 2**15) before differentiating. Then, if every gradient is finite,
they are divided by the scale that multiplied the loss and the inner optimizer steps; after
`dynamic_growth_steps` (2000) finite steps in a row the scale doubles. A step with any
non-finite gradient is skipped: weights and the inner optimizer's state (its step count
included) stay as they were, the scale halves and the count restarts. Keras wraps the
optimizer in it when the model's policy is `mixed_float16` (`compile(auto_scale_loss=True)`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

Array = jax.Array


class LossScaleState(NamedTuple):
    scale: Array  # float32: the factor the next loss is multiplied by
    finite_steps: Array  # int32: finite steps since the scale last changed (Keras step_counter)
    inner: Any  # the wrapped optimizer's state


def loss_scale_optimizer(
    inner: optax.GradientTransformation,
    initial_scale: float = 2.0**15,
    dynamic_growth_steps: int = 2000,
) -> optax.GradientTransformation:
    """`inner` behind Keras' dynamic loss scale. Its `update` takes the gradients of the
    scaled loss (`loss * current_scale(state)`)."""

    def init(params: Any) -> LossScaleState:
        return LossScaleState(
            jnp.asarray(initial_scale, jnp.float32), jnp.zeros([], jnp.int32), inner.init(params)
        )

    def update(grads: Any, state: LossScaleState, params: Any = None) -> tuple[Any, Any]:
        def finite_step(_: None) -> tuple[Any, LossScaleState]:
            unscaled = jax.tree.map(lambda g: g / state.scale.astype(g.dtype), grads)
            updates, inner_state = inner.update(unscaled, state.inner, params)
            grow = state.finite_steps == dynamic_growth_steps - 1
            scale = jnp.where(grow, state.scale * 2.0, state.scale)
            steps = jnp.where(grow, 0, state.finite_steps + 1)
            return updates, LossScaleState(scale, steps, inner_state)

        def skipped_step(_: None) -> tuple[Any, LossScaleState]:
            halved = LossScaleState(state.scale * 0.5, jnp.zeros([], jnp.int32), state.inner)
            return jax.tree.map(jnp.zeros_like, grads), halved

        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]))
        return jax.lax.cond(finite, finite_step, skipped_step, None)

    return optax.GradientTransformation(init, update)  # type: ignore[arg-type]


def current_scale(opt_state: Any) -> Array | None:
    """The loss scale of an optimizer state made by `loss_scale_optimizer`; None for any
    other optimizer (its loss is not scaled)."""
    return opt_state.scale if isinstance(opt_state, LossScaleState) else None
