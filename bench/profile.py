"""`python -m bench.profile SPEC [--batch N] [--lowering name=form ...]`: time per node.

Method: per-node timed sub-jits. The graph is run node by node (`CompiledModel.apply_node`,
inference mode) on a random batch to get every node's inputs; then each node's apply is jitted
on its own and timed forward, and forward + backward (`jax.vjp`: gradients for its params and
float inputs). Nodes are named as in the spec, the names `CompiledModel.run` gives its
`jax.named_scope`s, so a row matches what an XLA profile of the whole step shows. The sum over
nodes is printed next to the whole model's forward + backward: where it is larger, XLA fused
work across nodes; a node's share of the sum is what lowering it differently can win.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import kspec
from kspec.schemas.graph import Ref


def _median_seconds(fn: Callable[[], Any], repeats: int) -> float:
    jax.block_until_ready(fn())  # compile
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _random_inputs(model: kspec.Model, batch: int) -> dict[str, jax.Array]:
    rng = np.random.default_rng(0)
    inputs = {}
    for name, spec in model.spec.inputs.items():
        shape = (batch, *(8 if n is None else n for n in spec.shape))
        if np.issubdtype(np.dtype(spec.dtype), np.integer):
            inputs[name] = jnp.asarray(rng.integers(0, 2, shape), spec.dtype)
        else:
            inputs[name] = jnp.asarray(rng.normal(size=shape), spec.dtype)
    return inputs


def _backward(apply: Callable[..., Any], params: Any, xs: list[jax.Array]) -> Callable[..., Any]:
    """params, xs -> gradients of sum(outputs) for params and the float inputs."""
    floats = [i for i, x in enumerate(xs) if jnp.issubdtype(x.dtype, jnp.floating)]

    def grads(params: Any, xs: list[jax.Array]) -> Any:
        def total(params: Any, picked: list[jax.Array]) -> jax.Array:
            full = list(xs)
            for i, x in zip(floats, picked, strict=True):
                full[i] = x
            return sum(jnp.sum(y) for y in apply(params, full))

        return jax.grad(total, argnums=(0, 1))(params, [xs[i] for i in floats])

    return grads


def profile(model: kspec.Model, batch: int, repeats: int) -> list[tuple[str, str, float, float]]:
    """(node, layer type, forward s, forward + backward s) per node, in graph order."""
    compiled = model.compiled
    variables = model.init(0)
    params, state = variables["params"], variables["state"]
    values: dict[Ref, jax.Array] = {Ref(n): x for n, x in _random_inputs(model, batch).items()}
    rows = []
    for node in compiled.graph.nodes:
        xs = [values[r] for r in node.inputs]
        own, own_state = params.get(node.layer, {}), state.get(node.layer, {})

        def apply(p: Any, xs: list[jax.Array], node: Any = node, s: Any = own_state) -> Any:
            return compiled.apply_node(node, p, s, xs)

        forward = jax.jit(apply)
        outputs = forward(own, xs)
        for i, y in enumerate(outputs):
            values[Ref(node.name, i)] = y
        backward = jax.jit(_backward(apply, own, xs))
        rows.append(
            (
                node.name,
                type(node.spec).__name__,
                _median_seconds(lambda f=forward, p=own, x=xs: f(p, x), repeats),
                _median_seconds(lambda b=backward, p=own, x=xs: b(p, x), repeats),
            )
        )
    return rows


def _whole(model: kspec.Model, batch: int, repeats: int) -> float:
    variables = model.init(0)
    inputs = _random_inputs(model, batch)

    def total(params: Any) -> jax.Array:
        outputs = model.compiled.apply({**variables, "params": params}, inputs)[0]
        return sum(jnp.sum(y) for y in outputs)

    step = jax.jit(jax.grad(total))
    return _median_seconds(lambda: step(variables["params"]), repeats)


def _options(pairs: list[str]) -> kspec.LoweringOptions:
    try:
        forms = dict(p.split("=", 1) for p in pairs)  # a count (rnn_scan_unroll=4) is an int
        return kspec.LoweringOptions(**{k: int(v) if v.isdigit() else v for k, v in forms.items()})
    except (TypeError, ValueError) as exc:
        raise SystemExit(f"--lowering: {exc}") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("spec", help="a model file")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--lowering", nargs="*", default=[], metavar="NAME=FORM",
        help="force lowering choices, e.g. conv_weight_grad=xla max_pool=reduce_window",
    )  # fmt: skip
    args = parser.parse_args(argv)
    model = kspec.load(args.spec, lowering=_options(args.lowering))
    with jax.numpy_rank_promotion("allow"):
        rows = profile(model, args.batch, args.repeats)
        whole = _whole(model, args.batch, args.repeats)
    total = sum(r[3] for r in rows)
    device = jax.devices()[0]
    print(f"{args.spec}: batch {args.batch}, per-node sub-jits, median of {args.repeats} "
          f"[{device.platform}: {device.device_kind}]")  # fmt: skip
    print(f"{'node':24s} {'type':22s} {'forward':>10s} {'fwd+bwd':>10s} {'share':>6s}")
    for name, kind, fwd, both in rows:
        print(f"{name:24s} {kind:22s} {fwd * 1e3:8.2f}ms {both * 1e3:8.2f}ms {both / total:6.1%}")
    print(f"{'sum of nodes':47s} {total * 1e3:20.2f}ms")
    print(f"{'whole model (one jit)':47s} {whole * 1e3:20.2f}ms")


if __name__ == "__main__":
    main()
