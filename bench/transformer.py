"""A transformer encoder block (batch 32, sequence 128, d_model 256, 4 heads, MLP 1024,
post-norm, relu): kspec's `TransformerEncoder` vs the same block hand-written in JAX (with
`jax.nn.dot_product_attention`, as kspec lowers it) vs a Keras 3 block built from
`MultiHeadAttention`, `LayerNormalization` and `Dense`.

Apply (jitted, inference) and train step (Adam, mean squared error against a random target),
same weights for kspec and hand-written (outputs and first loss checked equal), timed in
interleaved bursts (`timing.interleaved`); ratios, never absolute claims. Goals: apply <= 1.02,
train step <= 1.05. `python -m bench.transformer` runs a quick version (few rounds);
`--full` more rounds.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import argparse
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import kspec
from bench.timing import interleaved, time_compile

BATCH, SEQ, DIM, HEADS, MLP = 32, 128, 256, 4, 1024
APPLY_GOAL, STEP_GOAL = 1.02, 1.05
SPEC = {
    "kspec": 1,
    "name": "encoder_block",
    "inputs": {"x": {"shape": [SEQ, DIM]}},
    "layers": [
        {"type": "TransformerEncoder", "name": "encoder", "intermediate_dim": MLP,
         "num_heads": HEADS},
    ],
}  # fmt: skip


def _layer_norm(x: jax.Array, gamma: jax.Array, beta: jax.Array) -> jax.Array:
    mean = jnp.mean(x, -1, keepdims=True)
    inv = jax.lax.rsqrt(jnp.var(x, -1, keepdims=True) + 1e-5) * gamma
    return x * inv + (beta - mean * inv)


def handwritten(params: dict[str, Any], x: jax.Array) -> jax.Array:
    """The block as a careful person writes it: projections, fused attention, residuals."""
    p = params["encoder"]

    def w(name: str) -> jax.Array:
        return p[f"self_attention_layer/{name}"]

    q = jnp.einsum("btd,dnh->btnh", x, w("query/kernel")) + w("query/bias")
    k = jnp.einsum("btd,dnh->btnh", x, w("key/kernel")) + w("key/bias")
    v = jnp.einsum("btd,dnh->btnh", x, w("value/kernel")) + w("value/bias")
    o = jax.nn.dot_product_attention(q, k, v, scale=1.0 / np.sqrt(DIM // HEADS))
    y = jnp.einsum("btnh,nhd->btd", o, w("attention_output/kernel"))
    y = y + w("attention_output/bias")
    x = _layer_norm(
        x + y, p["self_attention_layer_norm/gamma"], p["self_attention_layer_norm/beta"]
    )
    h = jax.nn.relu(
        x @ p["feedforward_intermediate_dense/kernel"] + p["feedforward_intermediate_dense/bias"]
    )
    h = h @ p["feedforward_output_dense/kernel"] + p["feedforward_output_dense/bias"]
    return _layer_norm(x + h, p["feedforward_layer_norm/gamma"], p["feedforward_layer_norm/beta"])


def keras_encoder(x: Any) -> Any:
    """The block in Keras 3 layers, applied to a symbolic input."""
    import keras

    L = keras.layers
    y = L.MultiHeadAttention(HEADS, DIM // HEADS)(x, x)
    h = L.LayerNormalization(epsilon=1e-5)(L.Add()([x, y]))
    f = L.Dense(DIM)(L.Dense(MLP, activation="relu")(h))
    return L.LayerNormalization(epsilon=1e-5)(L.Add()([h, f]))


def keras_block() -> Any:
    import keras

    x = keras.Input((SEQ, DIM))
    model = keras.Model(x, keras_encoder(x))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    return model


def bench_apply(model: kspec.Model, x: jax.Array, rounds: int, inner: int, warmup: int) -> dict:
    variables = model.variables
    ours, _ = time_compile(model.apply, variables, x)
    theirs, _ = time_compile(handwritten, variables["params"], x)
    np.testing.assert_allclose(
        np.asarray(ours(variables, x)), np.asarray(theirs(variables["params"], x)),
        rtol=1e-4, atol=1e-4,
    )  # fmt: skip
    reference = keras_block()
    # Weights as arguments, as the other two get them: a closure would bake them into the
    # program as constants, which XLA folds into pre-laid-out kernels (~13% faster on CPU, and
    # no model anyone trains).
    keras_weights = ([v.value for v in reference.trainable_variables],
                     [v.value for v in reference.non_trainable_variables])  # fmt: skip

    @jax.jit
    def keras_fn(weights: Any, x: jax.Array) -> jax.Array:
        return reference.stateless_call(*weights, x, training=False)[0]

    hand = partial(theirs, variables["params"], x)
    a, b = interleaved({"kspec": partial(ours, variables, x), "hand": hand},
                       rounds, inner, warmup).values()  # fmt: skip
    c, d = interleaved({"keras": partial(keras_fn, keras_weights, x), "hand": hand},
                       rounds, inner, warmup).values()  # fmt: skip
    return {"kspec": a, "hand": b, "keras": c, "hand2": d}


def bench_step(model: kspec.Model, x: np.ndarray, y: np.ndarray, rounds: int, inner: int,
               warmup: int) -> dict:  # fmt: skip
    model.compile({"type": "adam", "learning_rate": 1e-3}, "mse")
    optimizer = optax.adam(1e-3, eps=1e-7)
    hand = {"params": model.variables["params"]}
    hand["opt"] = optimizer.init(hand["params"])

    @jax.jit
    def step(params: Any, opt: Any, x: jax.Array, y: jax.Array) -> Any:
        loss, grads = jax.value_and_grad(lambda p: jnp.mean((handwritten(p, x) - y) ** 2))(params)
        updates, opt = optimizer.update(grads, opt, params)
        return optax.apply_updates(params, updates), opt, loss

    def ours() -> float:
        return float(model.train_on_batch(x, y))

    def theirs() -> float:
        hand["params"], hand["opt"], loss = step(hand["params"], hand["opt"], x, y)
        return float(loss)

    reference = keras_block()

    def keras_step() -> float:
        return float(reference.train_on_batch(x, y))

    np.testing.assert_allclose(ours(), theirs(), rtol=1e-4)  # same weights, same first loss
    a, b = interleaved({"kspec": ours, "hand": theirs}, rounds, inner, warmup).values()
    c, d = interleaved({"keras": keras_step, "hand": theirs}, rounds, inner, warmup).values()
    return {"kspec": a, "hand": b, "keras": c, "hand2": d}


def report(title: str, r: dict, goal: float) -> str:
    ratio, keras_ratio = r["kspec"] / r["hand"], r["keras"] / r["hand2"]
    verdict = "OK" if ratio <= goal else "SLOWER THAN GOAL"
    return "\n".join([
        f"{title}",
        f"  kspec        median {r['kspec'] * 1e3:9.2f} ms",
        f"  handwritten  median {r['hand'] * 1e3:9.2f} ms",
        f"  keras 3 MHA  median {r['keras'] * 1e3:9.2f} ms  (handwritten in the same rounds: "
        f"{r['hand2'] * 1e3:.2f})",
        f"  ratio kspec/handwritten = {ratio:.3f}   (goal <= {goal}: {verdict})",
        f"  ratio keras/handwritten = {keras_ratio:.3f}",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.transformer", description=__doc__)
    parser.add_argument("--full", action="store_true", help="more rounds (slower, steadier)")
    args = parser.parse_args(argv)
    rounds, inner, warmup = (40, 5, 20) if args.full else (8, 2, 3)
    device = jax.devices()[0]
    model = kspec.load(SPEC)
    model.init(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, SEQ, DIM)).astype(np.float32)
    y = rng.standard_normal((BATCH, SEQ, DIM)).astype(np.float32)
    shape = f"batch {BATCH}, seq {SEQ}, d_model {DIM}, {HEADS} heads, MLP {MLP}"
    with jax.numpy_rank_promotion("allow"):  # Keras relies on rank promotion
        applied = bench_apply(model, jax.device_put(x), rounds, inner, warmup)
        print(report(f"encoder block apply, {shape}  [{device.platform}: {device.device_kind}]",
                     applied, APPLY_GOAL))  # fmt: skip
        stepped = bench_step(model, x, y, rounds, inner, warmup)
        print(report(f"encoder block train step (Adam, mse), {shape}", stepped, STEP_GOAL))


if __name__ == "__main__":
    main()
