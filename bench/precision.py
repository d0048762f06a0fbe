"""`python -m bench.precision`: `mixed_bfloat16` against float32, apply and train step.

The MNIST CNN (examples/mnist_cnn.yaml, batch 32) and the MLP (examples/mlp.yaml, batch 256),
each compiled twice from the same spec, once with `dtype_policy: mixed_bfloat16`, with the same
float32 weights. Apply is the jitted inference `model.apply`; the train step is one jitted
function of forward in training mode, crossentropy, gradients and Adam over `model.apply`,
identical for both policies, so the ratio is the policy's alone. Times are medians of
interleaved bursts (`timing.interleaved`); the report gives mixed/float32 ratios (below 1:
mixed is faster). On CPUs without native bfloat16 arithmetic mixed is usually slower; the
figure that matters is a GPU's or TPU's. `--rounds N` for a longer, steadier run.
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import yaml

import kspec
from bench.timing import interleaved

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CASES = (("mnist_cnn", (28, 28, 1), 32), ("mlp", (784,), 256))


def _model(name: str, policy: str) -> kspec.Model:
    spec = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    return kspec.load({**spec, "dtype_policy": policy})


def _train_step(model: kspec.Model, optimizer: optax.GradientTransformation) -> Any:
    def loss_fn(params: Any, state: Any, x: jax.Array, y: jax.Array, key: jax.Array) -> Any:
        probs = model.apply({"params": params, "state": state}, x, training=True, rng=key)
        probs = jnp.clip(probs.astype(jnp.float32), 1e-7, 1.0 - 1e-7)
        return jnp.mean(-jnp.sum(y * jnp.log(probs), axis=-1))

    def step(params: Any, state: Any, opt_state: Any, x: jax.Array, y: jax.Array) -> Any:
        loss, grads = jax.value_and_grad(loss_fn)(params, state, x, y, jax.random.PRNGKey(0))
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return jax.jit(step)


def run(
    name: str, shape: tuple[int, ...], batch: int, rounds: int, warmup: int
) -> dict[str, float]:
    """Seconds per call of apply and train step under both policies, and their ratios."""
    full, mixed = _model(name, "float32"), _model(name, "mixed_bfloat16")
    variables = full.init(0)
    rng = np.random.default_rng(0)
    x = jax.device_put(rng.random((batch, *shape)).astype(np.float32))
    y = jax.device_put(np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)])
    apply_full = jax.jit(lambda v, x: full.apply(v, x)).lower(variables, x).compile()
    apply_mixed = jax.jit(lambda v, x: mixed.apply(v, x)).lower(variables, x).compile()
    args = (variables, x)
    applies = {"full": partial(apply_full, *args), "mixed": partial(apply_mixed, *args)}
    t_full, t_mixed = interleaved(applies, rounds, 5, warmup).values()
    optimizer = optax.adam(1e-3)
    params, state = variables["params"], variables["state"]
    train_args = (params, state, optimizer.init(params), x, y)
    steps = {
        "full": partial(_train_step(full, optimizer), *train_args),
        "mixed": partial(_train_step(mixed, optimizer), *train_args),
    }
    s_full, s_mixed = interleaved(steps, rounds, 3, warmup).values()
    return {
        "apply_f32_us": t_full * 1e6,
        "apply_mixed_us": t_mixed * 1e6,
        "apply_ratio": t_mixed / t_full,
        "train_f32_us": s_full * 1e6,
        "train_mixed_us": s_mixed * 1e6,
        "train_ratio": s_mixed / s_full,
    }


def main(rounds: int = 15, warmup: int = 20) -> None:
    device = jax.devices()[0]
    print(
        f"mixed_bfloat16 vs float32, ratio mixed/float32  [{device.platform}: {device.device_kind}]"
    )
    print(f"{'model':<16}{'apply f32 us':>13}{'mixed us':>10}{'ratio':>7}"
          f"{'train f32 us':>14}{'mixed us':>10}{'ratio':>7}")  # fmt: skip
    for name, shape, batch in CASES:
        r = run(name, shape, batch, rounds, warmup)
        print(
            f"{f'{name} b{batch}':<16}{r['apply_f32_us']:>13.0f}{r['apply_mixed_us']:>10.0f}"
            f"{r['apply_ratio']:>7.2f}{r['train_f32_us']:>14.0f}{r['train_mixed_us']:>10.0f}"
            f"{r['train_ratio']:>7.2f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds per timing")
    main(parser.parse_args().rounds)
