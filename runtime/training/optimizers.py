"""Keras 3 optimizers as optax `GradientTransformation`s, with Keras' exact update rules
(`optimizer_rules.py`: optax's own adam, lamb and adafactor differ from Keras' beyond float
tolerance). The learning rate is an injected hyperparameter
(`optax.inject_hyperparams`), so callbacks can change it between steps without recompiling.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from kspec.runtime.training.optimizer_rules import RULES, Extras, Rule
from kspec.runtime.training.schedules import get_schedule
from kspec.schemas.compile_names import refusal

Array = jax.Array

COMMON = {"weight_decay": None, "clipnorm": None, "clipvalue": None, "global_clipnorm": None}
"""Keyword arguments every Keras optimizer takes (`keras.optimizers.Optimizer`)."""


class KerasState(NamedTuple):
    count: Array
    slots: tuple[Any, ...]
    u_product: Array  # Nadam's running product of momentum schedule values


def _clip_by_norm(g: Array, clipnorm: float) -> Array:
    """Keras' per-weight clip: g·c / max(‖g‖, c), NaN-safe at ‖g‖ = 0."""
    l2sum = jnp.sum(jnp.square(g))
    safe = jnp.where(l2sum > 0, l2sum, 1.0)
    norm = jnp.where(l2sum > 0, jnp.sqrt(safe), l2sum)
    return g * clipnorm / jnp.maximum(norm, clipnorm)


def _clip(grads: Any, hp: Mapping[str, Any]) -> Any:
    if hp["clipnorm"] is not None:
        return jax.tree.map(lambda g: _clip_by_norm(g, hp["clipnorm"]), grads)
    if hp["global_clipnorm"] is not None:
        norm = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in jax.tree.leaves(grads)))
        scale = hp["global_clipnorm"] / jnp.maximum(norm, hp["global_clipnorm"])
        return jax.tree.map(lambda g: g * scale, grads)
    if hp["clipvalue"] is not None:
        return jax.tree.map(lambda g: jnp.clip(g, -hp["clipvalue"], hp["clipvalue"]), grads)
    return grads


def _keras_transform(learning_rate: Array, *, rule: Rule, hp: dict[str, Any]) -> Any:
    """The update of one Keras step: clip, decay weights (`w -= w·wd·lr`), then the rule."""

    def init(params: Any) -> KerasState:
        leaves, treedef = jax.tree.flatten(params)
        per_weight = [rule.init_slots(p, hp) for p in leaves]
        slots = tuple(treedef.unflatten([s[j] for s in per_weight]) for j in range(rule.slots(hp)))
        return KerasState(jnp.zeros([], jnp.int32), slots, jnp.ones([], jnp.float32))

    def update(grads: Any, state: KerasState, params: Any = None) -> tuple[Any, KerasState]:
        grads = _clip(grads, hp)
        t = (state.count + 1).astype(jnp.float32)
        u_product = state.u_product
        if "beta_1" in hp:
            u_product = u_product * hp["beta_1"] * (1.0 - 0.5 * 0.96**t)
        leaves, treedef = jax.tree.flatten(grads)
        slot_leaves = [treedef.flatten_up_to(s) for s in state.slots]
        if params is None and (rule.needs_weight or hp["weight_decay"] is not None):
            raise ValueError("this optimizer needs the params passed to `update`")
        weights = [None] * len(leaves) if params is None else treedef.flatten_up_to(params)
        updates, new_slots = [], [[] for _ in state.slots]
        for i, g in enumerate(leaves):
            lr = jnp.asarray(learning_rate, g.dtype)
            decay = 0.0 if hp["weight_decay"] is None else -weights[i] * hp["weight_decay"] * lr
            weight = None if weights[i] is None else weights[i] + decay  # Keras decays first
            extras = Extras(u_product, weight)
            delta, slots = rule.step(g, tuple(s[i] for s in slot_leaves), t, lr, hp, extras)
            updates.append(delta + decay if hp["weight_decay"] is not None else delta)
            for j, s in enumerate(slots):
                new_slots[j].append(s)
        slots_out = tuple(treedef.unflatten(s) for s in new_slots)
        return treedef.unflatten(updates), KerasState(state.count + 1, slots_out, u_product)

    return optax.GradientTransformation(init, update)


def keras_optimizer(name: str, **kwargs: Any) -> optax.GradientTransformation:
    """`keras_optimizer("adam", learning_rate=1e-3)`: a Keras 3 optimizer as optax.

    `learning_rate` may be a number, a Keras schedule spec (`{"schedule": "cosine_decay",
    ...}`, see `schedules.py`) or an optax schedule (a function of the step). Unknown names and
    parameters raise `ValueError` with the accepted ones.
    """
    key = name.lower()
    if key not in RULES:
        raise ValueError(
            refusal(name) or f"unknown optimizer '{name}'. Expected one of: {', '.join(RULES)}"
        )
    rule = RULES[key]
    allowed = {**rule.defaults, **COMMON, **{k: v for k, v in rule.defaults.items()}}
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValueError(
            f"optimizer '{key}' has no parameter {', '.join(unknown)}. "
            f"Expected: {', '.join(sorted(allowed))}"
        )
    hp = {**COMMON, **rule.defaults, **kwargs}
    clips = [k for k in ("clipnorm", "clipvalue", "global_clipnorm") if hp[k] is not None]
    if len(clips) > 1:
        raise ValueError(
            f"give only one of clipnorm, clipvalue, global_clipnorm. Received: {clips}"
        )
    learning_rate = hp.pop("learning_rate")
    if isinstance(learning_rate, Mapping):
        learning_rate = get_schedule(learning_rate)
    factory = partial(_keras_transform, rule=rule, hp=hp)
    return optax.inject_hyperparams(factory)(learning_rate=learning_rate)


def get_optimizer(identifier: Any) -> optax.GradientTransformation:
    """A name (`"adam"`), a mapping (`{"type": "adam", "learning_rate": 1e-3}`) or an optax
    `GradientTransformation` (returned unchanged)."""
    if isinstance(identifier, optax.GradientTransformation):
        return identifier
    if isinstance(identifier, str):
        return keras_optimizer(identifier)
    if isinstance(identifier, Mapping):
        options = dict(identifier)
        if "type" not in options:
            raise ValueError(f"an optimizer mapping needs a `type`. Received: {identifier}")
        return keras_optimizer(options.pop("type"), **options)
    if hasattr(identifier, "model_dump"):  # schemas.training.OptimizerSpec
        return get_optimizer(identifier.model_dump(exclude_none=True))
    raise TypeError(
        f"optimizer must be a name, a mapping or an optax GradientTransformation. "
        f"Received: {type(identifier).__name__}"
    )


def _hyperparams(opt_state: Any) -> dict[str, Any] | None:
    state = _injected(opt_state)
    return None if state is None else state.hyperparams


def _injected(opt_state: Any) -> Any:
    """The `optax.inject_hyperparams` state holding a learning rate, if any."""
    for state in jax.tree.leaves(opt_state, is_leaf=lambda s: hasattr(s, "hyperparams")):
        if hasattr(state, "hyperparams") and "learning_rate" in state.hyperparams:
            return state
    return None


def get_learning_rate(opt_state: Any) -> float:
    """The current learning rate in an optimizer state built by `keras_optimizer` (or by
    `optax.inject_hyperparams`)."""
    hyperparams = _hyperparams(opt_state)
    if hyperparams is None:
        raise ValueError("this optimizer has no injectable learning_rate")
    return float(hyperparams["learning_rate"])


def set_learning_rate(opt_state: Any, value: float) -> Any:
    """The optimizer state with its learning rate replaced (no recompilation: it is data)."""
    hyperparams = _hyperparams(opt_state)
    if hyperparams is None:
        raise ValueError(
            "this optimizer has no injectable learning_rate; build it with "
            "optax.inject_hyperparams to let callbacks change it"
        )
    if "learning_rate" in getattr(_injected(opt_state), "hyperparams_states", {}):
        raise ValueError(  # the schedule would overwrite it at the next step, silently
            "the learning rate follows a schedule, so it cannot be set (Keras refuses too); "
            "compile with a float `learning_rate` for callbacks that change it "
            "(LearningRateScheduler, ReduceLROnPlateau)"
        )
    old = hyperparams["learning_rate"]
    hyperparams["learning_rate"] = jnp.asarray(value, dtype=jnp.asarray(old).dtype)
    return opt_state
