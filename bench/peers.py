"""The peers each workload is also written in: Keras 3 (`predict` / `train_on_batch`), Flax NNX
and Equinox, each in its own idiom and initialisation (timing does not depend on weight
values), Adam(1e-3) and categorical crossentropy like kspec. A peer that is not installed is a
missing column. Flax runs its documented fast path (`nnx.split` once, `nnx.merge` inside one
`jax.jit`); Equinox runs `eqx.filter_jit` over its per-example layers under `jax.vmap`."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import optax

from bench.transformer import DIM, HEADS, MLP, keras_encoder
from bench.workloads import LSTM_VOCAB, LSTM_WIDTH, Workload


@dataclass(frozen=True)
class Peer:
    """`apply(x)` -> outputs (blockable), `train(x, y)` -> the loss as a float."""

    apply: Callable[[Any], Any]
    train: Callable[[Any, Any], float]


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def crossentropy(probs: jax.Array, y: jax.Array) -> jax.Array:
    probs = jnp.clip(probs, 1e-7, 1.0 - 1e-7)
    return jnp.mean(-jnp.sum(y * jnp.log(probs), axis=-1))


# Keras 3 ------------------------------------------------------------------------------------


def _keras_model(name: str, input_shape: tuple[int, ...]) -> Any:
    """The workload in Keras 3 layers: Sequential, except the transformer (attention takes
    two inputs, so it is functional)."""
    import keras

    L = keras.layers
    if name == "transformer":
        x = keras.Input(input_shape)
        pooled = L.GlobalAveragePooling1D()(keras_encoder(x))
        return keras.Model(x, L.Dense(10, activation="softmax")(pooled))
    if name == "mlp":
        layers = [keras.Input((784,))]
        for units in (512, 512):
            layers += [L.Dense(units, activation="relu"), L.Dropout(0.2)]
        layers.append(L.Dense(10, activation="softmax"))
    elif name == "cnn":
        layers = [
            keras.Input((28, 28, 1)), L.Conv2D(32, 3, activation="relu"),
            L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2), L.Dropout(0.25), L.Flatten(),
            L.Dense(128, activation="relu"), L.Dropout(0.5), L.Dense(10, activation="softmax"),
        ]  # fmt: skip
    else:
        layers = [
            keras.Input(input_shape, dtype="int32"),
            L.Embedding(LSTM_VOCAB, LSTM_WIDTH), L.LSTM(LSTM_WIDTH),
            L.Dense(10, activation="softmax"),
        ]  # fmt: skip
    return keras.Sequential(layers)


def keras_peer(workload: Workload) -> Peer:
    import keras

    model = _keras_model(workload.name, workload.input_shape)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy")
    return Peer(
        apply=lambda x: model.predict(x, verbose=0, batch_size=len(x)),
        train=lambda x, y: float(model.train_on_batch(x, y)),
    )


# Flax NNX -----------------------------------------------------------------------------------


def flax_peer(workload: Workload) -> Peer:
    from flax import nnx

    rngs = nnx.Rngs(params=0, dropout=1)

    class Mlp(nnx.Module):
        def __init__(self) -> None:
            self.l1, self.l2 = nnx.Linear(784, 512, rngs=rngs), nnx.Linear(512, 512, rngs=rngs)
            self.out, self.drop = nnx.Linear(512, 10, rngs=rngs), nnx.Dropout(0.2, rngs=rngs)

        def __call__(self, x: jax.Array) -> jax.Array:
            h = self.drop(jax.nn.relu(self.l1(x)))
            h = self.drop(jax.nn.relu(self.l2(h)))
            return jax.nn.softmax(self.out(h))

    class Cnn(nnx.Module):
        def __init__(self) -> None:
            self.c1 = nnx.Conv(1, 32, (3, 3), padding="VALID", rngs=rngs)
            self.c2 = nnx.Conv(32, 64, (3, 3), padding="VALID", rngs=rngs)
            self.d1, self.d2 = (
                nnx.Linear(12 * 12 * 64, 128, rngs=rngs),
                nnx.Linear(128, 10, rngs=rngs),
            )
            self.drop1, self.drop2 = nnx.Dropout(0.25, rngs=rngs), nnx.Dropout(0.5, rngs=rngs)

        def __call__(self, x: jax.Array) -> jax.Array:
            h = jax.nn.relu(self.c2(jax.nn.relu(self.c1(x))))
            h = nnx.max_pool(h, (2, 2), (2, 2))
            h = self.drop1(h).reshape(h.shape[0], -1)
            return jax.nn.softmax(self.d2(self.drop2(jax.nn.relu(self.d1(h)))))

    class Lstm(nnx.Module):
        def __init__(self) -> None:
            self.embed = nnx.Embed(LSTM_VOCAB, LSTM_WIDTH, rngs=rngs)
            self.rnn = nnx.RNN(nnx.OptimizedLSTMCell(LSTM_WIDTH, LSTM_WIDTH, rngs=rngs))
            self.out = nnx.Linear(LSTM_WIDTH, 10, rngs=rngs)

        def __call__(self, ids: jax.Array) -> jax.Array:
            return jax.nn.softmax(self.out(self.rnn(self.embed(ids))[:, -1]))

    class Transformer(nnx.Module):
        def __init__(self) -> None:
            self.attention = nnx.MultiHeadAttention(
                num_heads=HEADS, in_features=DIM, qkv_features=DIM, decode=False, rngs=rngs
            )
            self.ln1 = nnx.LayerNorm(DIM, epsilon=1e-5, rngs=rngs)
            self.ln2 = nnx.LayerNorm(DIM, epsilon=1e-5, rngs=rngs)
            self.ff1, self.ff2 = nnx.Linear(DIM, MLP, rngs=rngs), nnx.Linear(MLP, DIM, rngs=rngs)
            self.out = nnx.Linear(DIM, 10, rngs=rngs)

        def __call__(self, x: jax.Array) -> jax.Array:
            h = self.ln1(x + self.attention(x))
            h = self.ln2(h + self.ff2(jax.nn.relu(self.ff1(h))))
            return jax.nn.softmax(self.out(jnp.mean(h, axis=1)))

    model = {"mlp": Mlp, "cnn": Cnn, "lstm": Lstm, "transformer": Transformer}[workload.name]()
    optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
    graphdef, state = nnx.split((model, optimizer))

    @jax.jit
    def apply(state: Any, x: jax.Array) -> jax.Array:
        model, _ = nnx.merge(graphdef, state)
        model.eval()
        return model(x)

    @jax.jit
    def step(state: Any, x: jax.Array, y: jax.Array) -> tuple[jax.Array, Any]:
        model, optimizer = nnx.merge(graphdef, state)
        model.train()
        loss, grads = nnx.value_and_grad(lambda m: crossentropy(m(x), y))(model)
        optimizer.update(model, grads)
        return loss, nnx.state((model, optimizer))

    held = {"state": state}

    def train(x: Any, y: Any) -> float:
        loss, held["state"] = step(held["state"], x, y)
        return float(loss)

    return Peer(apply=lambda x: apply(held["state"], x), train=train)


# Equinox ------------------------------------------------------------------------------------


def equinox_peer(workload: Workload) -> Peer:
    import equinox as eqx

    keys = iter(jax.random.split(jax.random.PRNGKey(0), 8))
    nn = eqx.nn

    class Mlp(eqx.Module):
        layers: list[Any]
        drop: Any

        def __init__(self) -> None:
            sizes = [(784, 512), (512, 512), (512, 10)]
            self.layers = [nn.Linear(i, o, key=next(keys)) for i, o in sizes]
            self.drop = nn.Dropout(0.2)

        def __call__(self, x: jax.Array, key: jax.Array | None, inference: bool) -> jax.Array:
            k = [None, None] if key is None else list(jax.random.split(key))
            h = self.drop(jax.nn.relu(self.layers[0](x)), key=k[0], inference=inference)
            h = self.drop(jax.nn.relu(self.layers[1](h)), key=k[1], inference=inference)
            return jax.nn.softmax(self.layers[2](h))

    class Cnn(eqx.Module):
        c1: Any
        c2: Any
        d1: Any
        d2: Any

        def __init__(self) -> None:
            self.c1 = nn.Conv2d(1, 32, 3, key=next(keys))
            self.c2 = nn.Conv2d(32, 64, 3, key=next(keys))
            self.d1 = nn.Linear(12 * 12 * 64, 128, key=next(keys))
            self.d2 = nn.Linear(128, 10, key=next(keys))

        def __call__(self, x: jax.Array, key: jax.Array | None, inference: bool) -> jax.Array:
            k = [None, None] if key is None else list(jax.random.split(key))
            h = jax.nn.relu(self.c2(jax.nn.relu(self.c1(jnp.transpose(x, (2, 0, 1))))))
            h = nn.MaxPool2d(2, 2)(h)
            h = nn.Dropout(0.25)(h, key=k[0], inference=inference).reshape(-1)
            h = nn.Dropout(0.5)(jax.nn.relu(self.d1(h)), key=k[1], inference=inference)
            return jax.nn.softmax(self.d2(h))

    class Lstm(eqx.Module):
        embed: Any
        cell: Any
        out: Any

        def __init__(self) -> None:
            self.embed = nn.Embedding(LSTM_VOCAB, LSTM_WIDTH, key=next(keys))
            self.cell = nn.LSTMCell(LSTM_WIDTH, LSTM_WIDTH, key=next(keys))
            self.out = nn.Linear(LSTM_WIDTH, 10, key=next(keys))

        def __call__(self, ids: jax.Array, key: jax.Array | None, inference: bool) -> jax.Array:
            xs = jax.vmap(self.embed)(ids)
            zeros = jnp.zeros(LSTM_WIDTH)
            (h, _), _ = jax.lax.scan(lambda s, x: (self.cell(x, s), None), (zeros, zeros), xs)
            return jax.nn.softmax(self.out(h))

    class Transformer(eqx.Module):
        attention: Any
        ln1: Any
        ln2: Any
        ff1: Any
        ff2: Any
        out: Any

        def __init__(self) -> None:
            bias = dict.fromkeys(
                ("use_query_bias", "use_key_bias", "use_value_bias", "use_output_bias"), True
            )  # Keras' and kspec's attention has all four biases; Equinox defaults to none
            self.attention = nn.MultiheadAttention(HEADS, DIM, key=next(keys), **bias)
            self.ln1, self.ln2 = nn.LayerNorm(DIM, eps=1e-5), nn.LayerNorm(DIM, eps=1e-5)
            self.ff1 = nn.Linear(DIM, MLP, key=next(keys))
            self.ff2 = nn.Linear(MLP, DIM, key=next(keys))
            self.out = nn.Linear(DIM, 10, key=next(keys))

        def __call__(self, x: jax.Array, key: jax.Array | None, inference: bool) -> jax.Array:
            per_token = jax.vmap
            h = per_token(self.ln1)(x + self.attention(x, x, x))
            f = per_token(self.ff2)(jax.nn.relu(per_token(self.ff1)(h)))
            h = per_token(self.ln2)(h + f)
            return jax.nn.softmax(self.out(jnp.mean(h, axis=0)))

    model = {"mlp": Mlp, "cnn": Cnn, "lstm": Lstm, "transformer": Transformer}[workload.name]()
    optimizer = optax.adam(1e-3)

    @eqx.filter_jit
    def apply(model: Any, x: jax.Array) -> jax.Array:
        return jax.vmap(lambda xi: model(xi, None, True))(x)

    @eqx.filter_jit
    def step(model: Any, opt_state: Any, x: jax.Array, y: jax.Array, key: jax.Array) -> Any:
        def loss(m: Any) -> jax.Array:
            keys = jax.random.split(key, x.shape[0])
            return crossentropy(jax.vmap(lambda xi, k: m(xi, k, False))(x, keys), y)

        value, grads = eqx.filter_value_and_grad(loss)(model)
        updates, opt_state = optimizer.update(grads, opt_state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), opt_state, value

    held = {"model": model, "opt": optimizer.init(eqx.filter(model, eqx.is_array)), "i": 0}

    def train(x: Any, y: Any) -> float:
        held["i"] += 1
        key = jax.random.fold_in(jax.random.PRNGKey(0), held["i"])
        held["model"], held["opt"], loss = step(held["model"], held["opt"], x, y, key)
        return float(loss)

    return Peer(apply=lambda x: apply(held["model"], x), train=train)


PEERS: dict[str, tuple[str, Callable[[Workload], Peer]]] = {
    "keras": ("keras", keras_peer),
    "flax_nnx": ("flax", flax_peer),
    "equinox": ("equinox", equinox_peer),
}
"""column -> (module that must be installed, builder)."""


def available_peers() -> dict[str, Callable[[Workload], Peer]]:
    return {name: build for name, (module, build) in PEERS.items() if installed(module)}


__all__ = ["PEERS", "Peer", "available_peers", "crossentropy"]
