"""`python -m bench.forms {batch_norm,depthwise} [--rounds R]`: one model's training-mode
`value_and_grad` under each form of one `LoweringOptions` choice, interleaved in one process,
with each form's ratio to the first. The figures behind the `auto` rules in
`compiler/options.py` that this module measures (docs/performance.md quotes them)."""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import kspec
from bench.workloads import EXAMPLES

_BN_STACK = {  # BatchNormalization-heavy: the statistics, not a convolution, dominate
    "kspec": 1,
    "inputs": {"x": [16, 16, 64]},
    "layers": [
        layer
        for i in range(6)
        for layer in (
            {"type": "BatchNormalization", "name": f"bn{i}"},
            {"type": "ReLU", "name": f"relu{i}"},
        )
    ],
}

CASES: dict[str, tuple[str, tuple[str, ...], list[tuple[Any, tuple[int, ...]]]]] = {
    "batch_norm": (
        "batch_norm_statistics",
        ("two_pass", "one_pass"),
        [(_BN_STACK, (128, 16, 16, 64)), (EXAMPLES / "resnet_small.yaml", (64, 32, 32, 3))],
    ),
}


def _step(spec: Any, field: str, form: str, x: jax.Array) -> tuple[Any, Any]:
    model = kspec.load(spec, lowering=kspec.LoweringOptions(**{field: form}))
    variables = model.init(0)
    name = model.compiled.graph.inputs[0]

    def loss(params: Any) -> jax.Array:
        (y,), aux = model.compiled.apply({**variables, "params": params}, {name: x}, training=True)
        return jnp.sum(y**2) + sum(jnp.sum(v) for v in jax.tree.leaves(aux.state))

    step = jax.jit(jax.value_and_grad(loss))
    jax.block_until_ready(step(variables["params"]))
    return step, variables["params"]


def compare(case: str, rounds: int) -> None:
    """Print, per model of `case`, each form's median time and ratio to the first form."""
    field, forms, models = CASES[case]
    for spec, shape in models:
        x = jnp.asarray(np.random.default_rng(0).normal(size=shape), jnp.float32)
        steps = {form: _step(spec, field, form, x) for form in forms}
        times: dict[str, list[float]] = {form: [] for form in forms}
        for _ in range(rounds):
            for form, (step, params) in steps.items():
                started = time.perf_counter()
                jax.block_until_ready(step(params))
                times[form].append(time.perf_counter() - started)
        label = spec.name if isinstance(spec, Path) else "BatchNormalization+ReLU x6"
        base = statistics.median(times[forms[0]])
        print(f"{label} {shape}, {field}, value_and_grad, median of {rounds} interleaved")
        for form, t in times.items():
            median = statistics.median(t)
            print(f"  {form:12s} {median * 1e3:9.2f} ms  ratio {median / base:.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.forms", description=__doc__)
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    compare(args.case, args.rounds)


if __name__ == "__main__":
    main()
