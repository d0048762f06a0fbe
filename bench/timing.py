"""Shared timing for the benchmarks: AOT compile time, and two compiled functions timed in
interleaved bursts so machine noise hits both alike; ratios, never absolute claims."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

import kspec

GOAL = 1.05
"""kspec may cost at most 5% over the same network written by hand."""


def time_compile(fn: Any, *args: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - started


def interleaved(
    ours: Any, ours_args: tuple[Any, ...], theirs: Any, theirs_args: tuple[Any, ...],
    rounds: int, inner: int, warmup: int = 20,
) -> tuple[float, float]:  # fmt: skip
    """Median seconds per call of two compiled functions, timed in alternating bursts after
    `warmup` untimed bursts of each."""

    def burst(fn: Any, *args: Any) -> float:
        started = time.perf_counter()
        for _ in range(inner):
            out = fn(*args)
        jax.block_until_ready(out)
        return (time.perf_counter() - started) / inner

    for _ in range(warmup):  # warm up caches, clocks, allocator
        burst(ours, *ours_args)
        burst(theirs, *theirs_args)
    times_ours, times_theirs = [], []
    for i in range(rounds):  # alternate which goes first, so drift hits both alike
        if i % 2:
            times_theirs.append(burst(theirs, *theirs_args))
            times_ours.append(burst(ours, *ours_args))
        else:
            times_ours.append(burst(ours, *ours_args))
            times_theirs.append(burst(theirs, *theirs_args))
    return statistics.median(times_ours), statistics.median(times_theirs)


def compare_apply(
    spec: Path, x: np.ndarray, handwritten: Any, rounds: int, inner: int
) -> dict[str, float]:
    """`model.apply` of `spec` vs `handwritten(params, x)`, same weights: checks both agree,
    then times them interleaved. Returns medians (us), their ratio and compile times (s)."""
    model = kspec.load(spec)
    variables = model.init(0)
    x = jax.device_put(x)
    ours, compile_ours = time_compile(model.apply, variables, x)
    theirs, compile_theirs = time_compile(handwritten, variables["params"], x)
    np.testing.assert_allclose(
        np.asarray(ours(variables, x)), np.asarray(theirs(variables["params"], x)), atol=1e-5
    )
    median_ours, median_theirs = interleaved(
        ours, (variables, x), theirs, (variables["params"], x), rounds, inner
    )
    return {
        "kspec_us": median_ours * 1e6,
        "handwritten_us": median_theirs * 1e6,
        "ratio": median_ours / median_theirs,
        "compile_kspec_s": compile_ours,
        "compile_handwritten_s": compile_theirs,
    }


def apply_report(title: str, result: dict[str, float]) -> str:
    """The lines `python -m bench` prints for one `compare_apply` result."""
    device = jax.devices()[0]
    verdict = "OK" if result["ratio"] <= GOAL else "SLOWER THAN GOAL"
    return "\n".join(
        [
            f"{title}  [{device.platform}: {device.device_kind}]",
            f"  kspec        median {result['kspec_us']:10.1f} us/call",
            f"  handwritten  median {result['handwritten_us']:10.1f} us/call",
            f"  ratio kspec/handwritten = {result['ratio']:.3f}   (goal <= {GOAL}: {verdict})",
            f"  compile: kspec {result['compile_kspec_s'] * 1e3:.1f} ms, "
            f"handwritten {result['compile_handwritten_s'] * 1e3:.1f} ms",
        ]
    )
