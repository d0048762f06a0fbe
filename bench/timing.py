"""Shared timing for the benchmarks: AOT compile time, and contenders timed in interleaved
bursts so machine noise hits all alike; ratios, never absolute claims."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import jax
import numpy as np

import kspec

GOAL = 1.05
"""kspec may cost at most 5% over the same network written by hand."""

BURST_SECONDS = 0.02
"""The shortest timed burst. A burst of one or two calls of tens of microseconds times the
timer and the scheduler, not the call: MLP apply at B=1 read 1.20x hand-written in 2-call
bursts and 1.0x in 200-call ones."""

Contenders = dict[str, Callable[[], Any]]
"""Name -> a zero-argument call (its result blockable)."""


def time_compile(fn: Any, *args: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - started


def rotated(names: list[str], round_: int) -> list[str]:
    """`names` starting at the `round_`-th: each contender goes first in turn."""
    start = round_ % len(names)
    return names[start:] + names[:start]


def interleaved(fns: Contenders, rounds: int, inner: int = 1, warmup: int = 1) -> dict[str, float]:
    """Median seconds per call of each function, after `warmup` untimed bursts of each
    (caches, clocks, allocator). Each is timed in bursts of at least `inner` calls (more where
    calls are fast, so every burst lasts `BURST_SECONDS`; the same count for every contender),
    each burst after one untimed call (the switch from the previous contender), the order
    rotating every round."""

    def burst(fn: Callable[[], Any], calls: int) -> float:
        jax.block_until_ready(fn())
        started = time.perf_counter()
        for _ in range(calls):
            out = fn()
        jax.block_until_ready(out)
        return (time.perf_counter() - started) / calls

    names = list(fns)
    fastest = min(burst(fns[name], 1) for name in names)
    calls = max(inner, math.ceil(BURST_SECONDS / fastest))
    for _ in range(warmup - 1):
        for name in names:
            burst(fns[name], calls)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in rotated(names, r):
            times[name].append(burst(fns[name], calls))
    return {name: statistics.median(t) for name, t in times.items()}


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
    medians = interleaved(
        {"ours": partial(ours, variables, x), "theirs": partial(theirs, variables["params"], x)},
        rounds,
        inner,
    )
    median_ours, median_theirs = medians["ours"], medians["theirs"]
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
