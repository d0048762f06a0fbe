"""Keras 3 optimizers as optax `GradientTransformation`s, with Keras' exact update rules.

optax's own `adam` puts epsilon inside the bias correction (`m̂ / (sqrt(v̂) + ε)`), Keras
outside (`a·m / (sqrt(v) + ε)`, `a = lr·sqrt(1-β₂ᵗ)/(1-β₁ᵗ)`); the two differ by more than float
tolerance early in training, so each Keras rule is written out here, per weight, from
`keras/src/optimizers/*.py`. The learning rate is an injected hyperparameter
(`optax.inject_hyperparams`), so callbacks can change it between steps without recompiling.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from kspec.runtime.training.schedules import get_schedule

Array = jax.Array
Slots = tuple[Array, ...]
# (gradient, slots, step t (1-based, float), learning rate, hyperparameters, nadam u-products)
StepFn = Callable[[Array, Slots, Array, Array, dict[str, Any], tuple[Array, Array]], Any]


@dataclass(frozen=True)
class Rule:
    """One Keras optimizer: its defaults, how many per-weight slots its options need, and its
    update `Δw = step(...)`. Only the slots an option uses exist (no AMSGrad maximum without
    `amsgrad`): a slot carried through the step unchanged still costs a copy of every weight."""

    defaults: dict[str, Any]
    slots: Callable[[Mapping[str, Any]], int]
    step: StepFn
    slot_init: str | None = None  # hyperparameter holding the slots' initial value


def _sgd(g, s, t, lr, hp, u):
    momentum = hp["momentum"]
    if momentum == 0:
        return -lr * g, ()
    m = s[0] * momentum - g * lr
    return (m * momentum - g * lr if hp["nesterov"] else m), (m,)


def _adam(g, s, t, lr, hp, u):
    b1, b2 = hp["beta_1"], hp["beta_2"]
    m, v = s[0] + (g - s[0]) * (1 - b1), s[1] + (jnp.square(g) - s[1]) * (1 - b2)
    alpha = lr * jnp.sqrt(1 - b2**t) / (1 - b1**t)
    if hp["amsgrad"]:
        vhat = jnp.maximum(s[2], v)
        return -(m * alpha) / (jnp.sqrt(vhat) + hp["epsilon"]), (m, v, vhat)
    return -(m * alpha) / (jnp.sqrt(v) + hp["epsilon"]), (m, v)


def _rmsprop(g, s, t, lr, hp, u):
    rho, eps = hp["rho"], hp["epsilon"]
    velocity = rho * s[0] + (1 - rho) * jnp.square(g)
    slots, denominator = [velocity], velocity + eps
    if hp["centered"]:
        average = rho * s[1] + (1 - rho) * g
        slots, denominator = [velocity, average], velocity - jnp.square(average) + eps
    increment = lr * g / jnp.sqrt(denominator)
    if hp["momentum"] > 0:
        momentum = hp["momentum"] * s[-1] + increment
        return -momentum, (*slots, momentum)
    return -increment, tuple(slots)


def _adagrad(g, s, t, lr, hp, u):
    accumulator = s[0] + jnp.square(g)
    return -lr * g / jnp.sqrt(accumulator + hp["epsilon"]), (accumulator,)


def _adadelta(g, s, t, lr, hp, u):
    rho, eps = hp["rho"], hp["epsilon"]
    grads = rho * s[0] + (1 - rho) * jnp.square(g)
    delta = -(jnp.sqrt(s[1] + eps) * g) / jnp.sqrt(grads + eps)
    deltas = rho * s[1] + (1 - rho) * jnp.square(delta)
    return lr * delta, (grads, deltas)


def _adamax(g, s, t, lr, hp, u):
    b1 = hp["beta_1"]
    m = s[0] + (g - s[0]) * (1 - b1)
    norm = jnp.maximum(hp["beta_2"] * s[1], jnp.abs(g))
    return -(lr * m) / ((1 - b1**t) * (norm + hp["epsilon"])), (m, norm)


def _nadam(g, s, t, lr, hp, u):
    b1, b2 = hp["beta_1"], hp["beta_2"]
    u_t = b1 * (1.0 - 0.5 * 0.96**t)
    u_next = b1 * (1.0 - 0.5 * 0.96 ** (t + 1))
    product, product_next = u[0], u[0] * u_next
    m = s[0] + (g - s[0]) * (1 - b1)
    v = s[1] + (jnp.square(g) - s[1]) * (1 - b2)
    m_hat = u_next * m / (1 - product_next) + (1 - u_t) * g / (1 - product)
    v_hat = v / (1 - b2**t)
    return -(m_hat * lr) / (jnp.sqrt(v_hat) + hp["epsilon"]), (m, v)


def _lion(g, s, t, lr, hp, u):
    b1, b2 = hp["beta_1"], hp["beta_2"]
    update = -lr * jnp.sign(s[0] * b1 + g * (1.0 - b1))
    return update, (s[0] * b2 + g * (1.0 - b2),)


_ADAM = {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}


def _fixed(count: int) -> Callable[[Mapping[str, Any]], int]:
    return lambda hp: count


def _adam_slots(hp: Mapping[str, Any]) -> int:
    return 3 if hp["amsgrad"] else 2  # m, v (, AMSGrad's running max of v)


def _rmsprop_slots(hp: Mapping[str, Any]) -> int:
    return 1 + bool(hp["centered"]) + (hp["momentum"] > 0)  # velocity (, average) (, momentum)


RULES: dict[str, Rule] = {
    "sgd": Rule(
        {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False},
        lambda hp: int(hp["momentum"] != 0),
        _sgd,
    ),
    "adam": Rule({**_ADAM, "amsgrad": False}, _adam_slots, _adam),
    "adamw": Rule({**_ADAM, "amsgrad": False, "weight_decay": 0.004}, _adam_slots, _adam),
    "rmsprop": Rule(
        {"learning_rate": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7, "centered": False},
        _rmsprop_slots,
        _rmsprop,
    ),
    "adagrad": Rule(
        {"learning_rate": 0.001, "initial_accumulator_value": 0.1, "epsilon": 1e-7},
        _fixed(1),
        _adagrad,
        slot_init="initial_accumulator_value",
    ),
    "adadelta": Rule({"learning_rate": 0.001, "rho": 0.95, "epsilon": 1e-7}, _fixed(2), _adadelta),
    "adamax": Rule(dict(_ADAM), _fixed(2), _adamax),
    "nadam": Rule(dict(_ADAM), _fixed(2), _nadam),
    "lion": Rule({"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.99}, _fixed(1), _lion),
}
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
        fill = hp[rule.slot_init] if rule.slot_init else 0.0
        slots = tuple(
            jax.tree.map(lambda p: jnp.full_like(p, fill), params) for _ in range(rule.slots(hp))
        )
        return KerasState(jnp.zeros([], jnp.int32), slots, jnp.ones([], jnp.float32))

    def update(grads: Any, state: KerasState, params: Any = None) -> tuple[Any, KerasState]:
        grads = _clip(grads, hp)
        t = (state.count + 1).astype(jnp.float32)
        u_product = state.u_product
        if "beta_1" in hp:
            u_product = u_product * hp["beta_1"] * (1.0 - 0.5 * 0.96**t)
        leaves, treedef = jax.tree.flatten(grads)
        slot_leaves = [treedef.flatten_up_to(s) for s in state.slots]
        updates, new_slots = [], [[] for _ in state.slots]
        for i, g in enumerate(leaves):
            lr = jnp.asarray(learning_rate, g.dtype)
            delta, slots = rule.step(g, tuple(s[i] for s in slot_leaves), t, lr, hp, (u_product,))
            if hp["weight_decay"] is not None:
                if params is None:
                    raise ValueError("weight_decay needs the params passed to `update`")
                delta = delta - treedef.flatten_up_to(params)[i] * hp["weight_decay"] * lr
            updates.append(delta)
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
        raise ValueError(f"unknown optimizer '{name}'. Expected one of: {', '.join(RULES)}")
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
