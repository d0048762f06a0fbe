"""`python -m bench.conv_grad [--batch N] [--size S] [--filters O] [--channels 1,8,32]
[--rounds R]`: a 3x3 `valid` Conv2D's weight gradient alone, (N, S, S, C) -> O filters, in
XLA's form and in both matmul forms of `compiler/layers/conv_grad.py`, interleaved in one
process, with each form's ratio to XLA's. The figures behind `CONCAT_BELOW_CHANNELS`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from bench.timing import interleaved
from kspec.compiler.layers.conv_grad import (
    ConvGeometry,
    concatenated_weight_gradient,
    tap_weight_gradient,
)

_GEOMETRY = ConvGeometry((1, 1), ((0, 0), (0, 0)), (1, 1), ("NHWC", "HWIO", "NHWC"))


def _xla_weight_gradient(
    geometry: ConvGeometry, x: jax.Array, kernel_shape: tuple[int, ...], dy: jax.Array
) -> jax.Array:
    """XLA's own weight gradient: the transpose of the convolution in its kernel."""
    _, vjp = jax.vjp(lambda k: geometry.convolve(x, k), jnp.zeros(kernel_shape, x.dtype))
    return vjp(dy)[0]


FORMS: dict[str, Callable[..., jax.Array]] = {
    "xla": _xla_weight_gradient,
    "concatenated": concatenated_weight_gradient,
    "per tap": tap_weight_gradient,
}


def _time_channels(channels: int, args: argparse.Namespace) -> dict[str, float]:
    """Median seconds of each form at `channels` input channels, calls interleaved."""
    rng = np.random.default_rng(0)
    kernel_shape = (3, 3, channels, args.filters)
    x = jnp.asarray(rng.standard_normal((args.batch, args.size, args.size, channels)), "float32")
    out = args.size - 2
    dy = jnp.asarray(rng.standard_normal((args.batch, out, out, args.filters)), "float32")
    steps = {
        name: jax.jit(form, static_argnums=(0, 2)).lower(_GEOMETRY, x, kernel_shape, dy).compile()
        for name, form in FORMS.items()
    }
    return interleaved({name: partial(step, x, dy) for name, step in steps.items()}, args.rounds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.conv_grad", description=__doc__)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--size", type=int, default=26)
    parser.add_argument("--filters", type=int, default=64)
    parser.add_argument("--channels", default="1,2,4,8,16,32,64")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    print(
        f"3x3 Conv2D weight gradient, ({args.batch}, {args.size}, {args.size}, C) -> "
        f"{args.filters}, median of {args.rounds} interleaved; ratio to xla"
    )
    for channels in map(int, args.channels.split(",")):
        medians = _time_channels(channels, args)
        ratios = "  ".join(f"{name} {t / medians['xla']:.2f}" for name, t in medians.items())
        print(f"  C={channels:<4d} xla {medians['xla'] * 1e3:8.1f} ms  {ratios}")


if __name__ == "__main__":
    main()
