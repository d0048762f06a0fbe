"""`python -m bench.lowering [--batch N] [--rounds R]`: the MNIST CNN's `value_and_grad` under
each combination of the CPU lowering choices (docs/performance.md), interleaved in one process,
with the ratio of each to XLA's forms. The figures behind `LoweringOptions`' `auto` rules."""

from __future__ import annotations

import argparse
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import kspec
from bench.timing import interleaved
from bench.workloads import EXAMPLES

FORMS = {
    "xla (conv xla, pool reduce_window)": {"conv_weight_grad": "xla", "max_pool": "reduce_window"},
    "im2col weight gradient only": {"conv_weight_grad": "im2col", "max_pool": "reduce_window"},
    "reshape max-pool only": {"conv_weight_grad": "xla", "max_pool": "reshape"},
    "both (CPU default)": {"conv_weight_grad": "im2col", "max_pool": "reshape"},
}


def _step(options: dict[str, str], x: jax.Array) -> tuple[Any, Any]:
    model = kspec.load(EXAMPLES / "mnist_cnn.yaml", lowering=kspec.LoweringOptions(**options))
    variables = model.init(0)

    def loss(params: Any) -> jax.Array:
        (y,), _ = model.compiled.apply({**variables, "params": params}, {"image": x})
        return jnp.sum(y**2)

    step = jax.jit(jax.value_and_grad(loss))
    jax.block_until_ready(step(variables["params"]))
    return step, variables["params"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.lowering", description=__doc__)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    x = jnp.asarray(np.random.default_rng(0).normal(size=(args.batch, 28, 28, 1)), jnp.float32)
    steps = {name: _step(options, x) for name, options in FORMS.items()}
    calls = {name: partial(step, params) for name, (step, params) in steps.items()}
    medians = interleaved(calls, args.rounds)
    base = next(iter(medians.values()))
    print(f"MNIST CNN value_and_grad, batch {args.batch}, median of {args.rounds} interleaved")
    for name, median in medians.items():
        print(f"  {name:36s} {median * 1e3:9.1f} ms  ratio {median / base:.2f}")


if __name__ == "__main__":
    main()
