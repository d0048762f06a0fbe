"""Train-step time: kspec `train_on_batch` vs the same step hand-written in jax + optax vs
Keras 3 `train_on_batch`, same weights and batch, interleaved rounds (`timing.interleaved`).

Models: examples/mlp.yaml (784-512-512-10, dropout 0.2, batch 256) and examples/mnist_cnn.yaml
(batch 32); Adam(1e-3), categorical crossentropy. Two interleaved pairs (kspec vs hand-written,
Keras vs hand-written), each ratio from its own pair. Every contender gets the same host (numpy)
batch per call and returns the loss as a Python float, as `train_on_batch` does. The
hand-written step is what a careful person writes: one jitted function doing dropout (same
per-layer keys as kspec, so its first loss equals kspec's), loss, grads and `optax.adam`
(eps=1e-7, the Keras default; optax adds it after bias correction, Keras before). Neither step
donates its buffers (kspec cannot: callers may hold the previous weights), so the comparison is
like for like. Goal: kspec/handwritten <= 1.05.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import kspec
from bench.apply_cnn import _conv_relu
from bench.timing import GOAL, interleaved

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
Forward = Callable[[dict[str, Any], jax.Array, jax.Array], jax.Array]


def _dropout(x: jax.Array, rate: float, key: jax.Array, name: str) -> jax.Array:
    """Inverted dropout with the node's key: fold_in(step key, crc32(node name))."""
    key = jax.random.fold_in(key, zlib.crc32(name.encode()) & 0x7FFFFFFF)
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), jnp.zeros((), x.dtype))


def mlp_forward(p: dict[str, Any], x: jax.Array, key: jax.Array) -> jax.Array:
    h = _dropout(jax.nn.relu(x @ p["dense"]["kernel"] + p["dense"]["bias"]), 0.2, key, "dropout")
    h = jax.nn.relu(h @ p["dense_1"]["kernel"] + p["dense_1"]["bias"])
    h = _dropout(h, 0.2, key, "dropout_1")
    return jax.nn.softmax(h @ p["dense_2"]["kernel"] + p["dense_2"]["bias"], axis=-1)


def cnn_forward(p: dict[str, Any], x: jax.Array, key: jax.Array) -> jax.Array:
    h = _conv_relu(_conv_relu(x, p["conv2d"]), p["conv2d_1"])
    h = jax.lax.reduce_window(
        h, np.float32(-np.inf), jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID"
    )
    h = _dropout(h, 0.25, key, "dropout").reshape(h.shape[0], -1)
    h = jax.nn.relu(h @ p["dense"]["kernel"] + p["dense"]["bias"][None, :])
    h = _dropout(h, 0.5, key, "dropout_1")
    return jax.nn.softmax(h @ p["dense_1"]["kernel"] + p["dense_1"]["bias"][None, :], axis=-1)


def handwritten_step(forward: Forward, optimizer: optax.GradientTransformation) -> Any:
    """params, opt_state, step, x, y -> params, opt_state, loss (Keras' clipped crossentropy)."""

    def loss_fn(params: dict[str, Any], x: jax.Array, y: jax.Array, key: jax.Array) -> jax.Array:
        probs = forward(params, x, key)
        probs = jnp.clip(probs / jnp.sum(probs, axis=-1, keepdims=True), 1e-7, 1.0 - 1e-7)
        return jnp.mean(-jnp.sum(y * jnp.log(probs), axis=-1))

    @jax.jit
    def step(params: Any, opt_state: Any, i: jax.Array, x: jax.Array, y: jax.Array) -> Any:
        key = jax.random.fold_in(jax.random.PRNGKey(0), i)
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y, key)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return step


def _keras_model(model: kspec.Model) -> Any:
    import keras

    if "conv2d" in model.variables["params"]:
        layers = [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Dropout(0.25),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(10, activation="softmax"),
        ]
    else:
        layers = [keras.Input((784,))]
        for units in (512, 512):
            layers += [keras.layers.Dense(units, activation="relu"), keras.layers.Dropout(0.2)]
        layers.append(keras.layers.Dense(10, activation="softmax"))
    reference = keras.Sequential(layers)
    reference.set_weights(model.get_weights())
    reference.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy")
    return reference


def run(spec: str, forward: Forward, batch: int, rounds: int, inner: int) -> dict[str, float]:
    model = kspec.load(EXAMPLES / spec)
    model.init(0)
    model.compile({"type": "adam", "learning_rate": 1e-3}, "categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, *model.spec.inputs["image"].shape)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)]
    reference = _keras_model(model)
    optimizer = optax.adam(1e-3, eps=1e-7)
    step = handwritten_step(forward, optimizer)
    hand = {"params": model.variables["params"], "i": 0}
    hand["opt"] = optimizer.init(hand["params"])

    def ours() -> float:
        return float(model.train_on_batch(x, y))

    def handwritten() -> float:
        hand["params"], hand["opt"], loss = step(hand["params"], hand["opt"], hand["i"], x, y)
        hand["i"] += 1
        return float(loss)

    def keras_step() -> float:
        return float(reference.train_on_batch(x, y))

    # the same math: equal first loss (same weights, dropout, loss); later steps differ only by
    # where Adam's epsilon sits (Keras: sqrt(v) + eps, optax: sqrt(v_hat) + eps), ~1e-4
    first = [(ours(), handwritten()) for _ in range(3)]
    np.testing.assert_allclose(*first[0], rtol=1e-6)
    np.testing.assert_allclose(*zip(*first, strict=True), rtol=2e-3)
    kspec_s, hand_s = interleaved({"kspec": ours, "hand": handwritten}, rounds, inner).values()
    keras_pair = {"keras": keras_step, "hand": handwritten}
    keras_s, hand2_s = interleaved(keras_pair, rounds, inner).values()
    return {
        "kspec_us": kspec_s * 1e6,
        "handwritten_us": hand_s * 1e6,
        "keras_us": keras_s * 1e6,
        "handwritten_vs_keras_us": hand2_s * 1e6,
        "ratio": kspec_s / hand_s,
        "keras_ratio": keras_s / hand2_s,
    }


def report(title: str, result: dict[str, float]) -> str:
    device = jax.devices()[0]
    verdict = "OK" if result["ratio"] <= GOAL else "SLOWER THAN GOAL"
    return "\n".join(
        [
            f"train step {title}, Adam, jit  [{device.platform}: {device.device_kind}]",
            f"  kspec train_on_batch  median {result['kspec_us']:10.1f} us/step",
            f"  handwritten jax+optax median {result['handwritten_us']:10.1f} us/step",
            f"  keras train_on_batch  median {result['keras_us']:10.1f} us/step  (handwritten in "
            f"the same rounds: {result['handwritten_vs_keras_us']:.1f})",
            f"  ratio kspec/handwritten = {result['ratio']:.3f}   (goal <= {GOAL}: {verdict})",
            f"  ratio keras/handwritten = {result['keras_ratio']:.3f}",
        ]
    )


def main() -> None:
    with jax.numpy_rank_promotion("allow"):  # Keras relies on rank promotion
        mlp = run("mlp.yaml", mlp_forward, batch=256, rounds=100, inner=5)
        print(report("MLP 784-512-512-10, batch 256", mlp))
        cnn = run("mnist_cnn.yaml", cnn_forward, batch=32, rounds=20, inner=2)
        print(report("MNIST CNN (examples/mnist_cnn.yaml), batch 32", cnn))


if __name__ == "__main__":
    main()
