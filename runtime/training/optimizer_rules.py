"""The update rule of each Keras 3 optimizer, per weight (`keras/src/optimizers/*.py`).

optax's own `adam` puts epsilon inside the bias correction (`m̂ / (sqrt(v̂) + ε)`), Keras
outside (`a·m / (sqrt(v) + ε)`, `a = lr·sqrt(1-β₂ᵗ)/(1-β₁ᵗ)`); the two differ by more than
float tolerance early in training, so each Keras rule is written out here. `optimizers.py`
wraps a rule into an optax `GradientTransformation` (clipping, weight decay, injected
learning rate).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array
Slots = tuple[Array, ...]


class Extras(NamedTuple):
    """What a few rules read besides the gradient and their slots."""

    u_product: Array  # Nadam's running product of momentum schedule values
    weight: Array | None  # the weight after weight decay (Adafactor, Ftrl, Lamb read it)


# (gradient, slots, step t (1-based, float), learning rate, hyperparameters, extras)
StepFn = Callable[[Array, Slots, Array, Array, dict[str, Any], Extras], Any]


@dataclass(frozen=True)
class Rule:
    """One Keras optimizer: its defaults, how many per-weight slots its options need, and its
    update `Δw = step(...)`. Only the slots an option uses exist (no AMSGrad maximum without
    `amsgrad`): a slot carried through the step unchanged still costs a copy of every weight."""

    defaults: dict[str, Any]
    slots: Callable[[Mapping[str, Any]], int]
    step: StepFn
    init: Callable[[Array, Mapping[str, Any]], Slots] | None = None  # default: zeros like w
    needs_weight: bool = False

    def init_slots(self, weight: Array, hp: Mapping[str, Any]) -> Slots:
        """This weight's slots, as Keras' `build` makes them."""
        if self.init is not None:
            return self.init(weight, hp)
        return tuple(jnp.zeros_like(weight) for _ in range(self.slots(hp)))


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
    product, product_next = u.u_product, u.u_product * u_next
    m = s[0] + (g - s[0]) * (1 - b1)
    v = s[1] + (jnp.square(g) - s[1]) * (1 - b2)
    m_hat = u_next * m / (1 - product_next) + (1 - u_t) * g / (1 - product)
    v_hat = v / (1 - b2**t)
    return -(m_hat * lr) / (jnp.sqrt(v_hat) + hp["epsilon"]), (m, v)


def _lion(g, s, t, lr, hp, u):
    b1, b2 = hp["beta_1"], hp["beta_2"]
    update = -lr * jnp.sign(s[0] * b1 + g * (1.0 - b1))
    return update, (s[0] * b2 + g * (1.0 - b2),)


def _rms(x: Array) -> Array:
    return jnp.sqrt(jnp.mean(jnp.square(x)))


def _adafactor(g, s, t, lr, hp, u):
    """Factored second moments (Shazeer & Stern 2018) as Keras: the row and column means of
    g² + ε₁ for weights of rank ≥ 2 (their last two axes), a full moment below that."""
    rho = jnp.minimum(lr, 1 / jnp.sqrt(t))  # Keras' `relative_step` takes this same minimum
    alpha = jnp.maximum(hp["epsilon_2"], _rms(u.weight)) * rho
    squared = jnp.square(g) + hp["epsilon_1"]
    beta = 1 - jnp.power(t, hp["beta_2_decay"])
    r, c, v = s
    if g.ndim >= 2:
        r = beta * r + (1 - beta) * jnp.mean(squared, axis=-1)
        c = beta * c + (1 - beta) * jnp.mean(squared, axis=-2)
        second = jnp.expand_dims(r / jnp.mean(r, axis=-1, keepdims=True), -1) * c[..., None, :]
    else:
        v = beta * v + (1 - beta) * squared
        second = v
    update = g / jnp.sqrt(second)
    update = update / jnp.maximum(1.0, _rms(update) / hp["clip_threshold"])
    return -(alpha * update), (r, c, v)


def _adafactor_slots(w: Array, hp: Mapping[str, Any]) -> Slots:
    """(row means, column means, full moment); the unused ones are scalars (Keras keeps a
    full `v` for factored weights too, but only ever writes it)."""
    none = jnp.zeros([], w.dtype)
    if w.ndim < 2:
        return none, none, jnp.zeros_like(w)
    return jnp.zeros(w.shape[:-1], w.dtype), jnp.zeros(w.shape[:-2] + w.shape[-1:], w.dtype), none


def _ftrl(g, s, t, lr, hp, u):
    """Follow-the-regularized-leader (McMahan et al. 2013): the new weight is solved from the
    accumulated linear term; the update is its difference to the current one."""
    w, power = u.weight, hp["learning_rate_power"]
    accumulator, linear = s
    l2 = hp["l2_regularization_strength"] + hp["beta"] / (2.0 * lr)
    grad = g + 2 * hp["l2_shrinkage_regularization_strength"] * w
    new_accumulator = accumulator + jnp.square(g)
    step = (jnp.power(new_accumulator, -power) - jnp.power(accumulator, -power)) / lr
    linear = linear + (grad - step * w)
    quadratic = jnp.power(new_accumulator, -power) / lr + 2 * l2
    l1 = hp["l1_regularization_strength"]
    new_w = (jnp.clip(linear, -l1, l1) - linear) / quadratic
    return new_w - w, (new_accumulator, linear)


def _lamb(g, s, t, lr, hp, u):
    """Adam's direction scaled per weight by ‖w‖ / ‖direction‖ (You et al. 2019)."""
    b1, b2 = hp["beta_1"], hp["beta_2"]
    m, v = s[0] + (g - s[0]) * (1 - b1), s[1] + (jnp.square(g) - s[1]) * (1 - b2)
    update = (m / (1.0 - b1**t)) / (jnp.sqrt(v / (1.0 - b2**t)) + hp["epsilon"])
    w_norm = jnp.sqrt(jnp.sum(jnp.square(u.weight)))
    u_norm = jnp.sqrt(jnp.sum(jnp.square(update)))
    ratio = jnp.where(w_norm > 0, jnp.where(u_norm > 0, w_norm / u_norm, 1.0), 1.0)
    return -(ratio * lr * update), (m, v)


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
        init=lambda w, hp: (jnp.full_like(w, hp["initial_accumulator_value"]),),
    ),
    "adadelta": Rule({"learning_rate": 0.001, "rho": 0.95, "epsilon": 1e-7}, _fixed(2), _adadelta),
    "adamax": Rule(dict(_ADAM), _fixed(2), _adamax),
    "nadam": Rule(dict(_ADAM), _fixed(2), _nadam),
    "lion": Rule({"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.99}, _fixed(1), _lion),
    "adafactor": Rule(
        {
            "learning_rate": 0.001,
            "beta_2_decay": -0.8,
            "epsilon_1": 1e-30,
            "epsilon_2": 1e-3,
            "clip_threshold": 1.0,
            "relative_step": True,
        },
        _fixed(3),
        _adafactor,
        init=_adafactor_slots,
        needs_weight=True,
    ),
    "ftrl": Rule(
        {
            "learning_rate": 0.001,
            "learning_rate_power": -0.5,
            "initial_accumulator_value": 0.1,
            "l1_regularization_strength": 0.0,
            "l2_regularization_strength": 0.0,
            "l2_shrinkage_regularization_strength": 0.0,
            "beta": 0.0,
        },
        _fixed(2),
        _ftrl,
        init=lambda w, hp: (jnp.full_like(w, hp["initial_accumulator_value"]), jnp.zeros_like(w)),
        needs_weight=True,
    ),
    "lamb": Rule(dict(_ADAM), _fixed(2), _lamb, needs_weight=True),
}
