"""`make bench` / `python -m bench [--quick]`: every workload against every peer in one run.

Rows: per workload (bench/workloads.py) apply at B=1 and at a large batch, the train step,
`predict` at B=1 (host array in, host array out: the fixed cost per call), and the first call
of apply and of the train step (trace + compile). Columns: kspec, the same network hand-written
in JAX (the baseline), Keras 3 `predict` / `train_on_batch`, Flax NNX, Equinox (the last three
when installed: `pip install -e '.[bench]'`). Each cell is the median of interleaved bursts
(every contender timed in turn, the order rotating each round, so load on this shared machine
hits all alike) and its ratio to hand-written; a first call is the median of five, each
contender built anew and started from empty JAX caches (`first_calls`). Writes
bench/results.json and bench/results.png.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import argparse
import json
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import jax
import numpy as np
import optax

import kspec
from bench.peers import available_peers
from bench.timing import interleaved, rotated
from bench.train_step import handwritten_step
from bench.workloads import WORKLOADS, Workload

HERE = Path(__file__).resolve().parent
COLUMNS = ["kspec", "handwritten", "keras", "flax_nnx", "equinox"]


Fresh = Callable[[], Callable[[], Any]]
"""Builds a contender anew (untimed) and returns its first call."""


def first_calls(fresh: dict[str, Fresh], rounds: int) -> dict[str, float]:
    """Median seconds of each contender's first call (trace, compile, run), each built anew
    and started from empty JAX caches (`jax.clear_caches`), the order rotating every round.
    JAX caches the jitted library functions every contender calls (`jax.nn.softmax`, the
    `jnp` operators), so without clearing, whichever went first paid for tracing them all:
    about 20 ms of an MLP's 100 ms, always charged to kspec, which went first."""
    names = list(fresh)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in rotated(names, r):
            call = fresh[name]()
            jax.clear_caches()
            started = time.perf_counter()
            jax.block_until_ready(call())
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(t) for name, t in times.items()}


def _kspec(workload: Workload) -> kspec.Model:
    model = kspec.load(workload.spec)
    model.init(0)
    model.compile({"type": "adam", "learning_rate": 1e-3}, "categorical_crossentropy")
    return model


def _handwritten_trainer(workload: Workload, params: Any, x: Any, y: Any) -> Callable[[], float]:
    """The hand-written train step on (x, y), carrying its own params and optimizer state,
    which its first call makes (as `train_on_batch`'s does)."""
    optimizer = optax.adam(1e-3, eps=1e-7)
    step = handwritten_step(workload.train_forward, optimizer)
    carried = {"params": params, "opt": None, "i": 0}

    def train() -> float:
        if carried["opt"] is None:
            carried["opt"] = optimizer.init(params)
        carried["params"], carried["opt"], loss = step(
            carried["params"], carried["opt"], carried["i"], x, y
        )
        carried["i"] += 1
        return float(loss)

    return train


def contenders(workload: Workload, peers: dict[str, Any], big: int) -> dict[str, dict[str, Any]]:
    """mode -> column -> zero-argument callable; "first call apply" / "first call train" ->
    column -> `Fresh` builder."""
    model = _kspec(workload)
    variables = model.variables
    params = variables["params"]
    inputs = {n: workload.batch(n, seed=n)[0] for n in (1, big)}
    device_inputs = {n: jax.device_put(x) for n, x in inputs.items()}
    x_train, y_train = workload.batch(workload.train_batch, seed=7)
    ours_apply = jax.jit(model.apply)
    theirs_apply = jax.jit(workload.apply)
    ours = {n: lambda n=n: ours_apply(variables, device_inputs[n]) for n in inputs}
    theirs = {n: lambda n=n: theirs_apply(params, device_inputs[n]) for n in inputs}
    np.testing.assert_allclose(  # the same network: kspec and the baseline agree
        np.asarray(ours[big]()), np.asarray(theirs[big]()), rtol=1e-4, atol=1e-5
    )
    modes: dict[str, dict[str, Any]] = {
        "apply B=1": {"kspec": ours[1], "handwritten": theirs[1]},
        f"apply B={big}": {"kspec": ours[big], "handwritten": theirs[big]},
        f"train B={workload.train_batch}": {
            "kspec": partial(_train_float, model, x_train, y_train),
            "handwritten": _handwritten_trainer(workload, params, x_train, y_train),
        },
        "predict B=1": {
            "kspec": lambda: model.predict(inputs[1], batch_size=1),
            "handwritten": lambda: np.asarray(theirs_apply(params, inputs[1])),
        },
    }
    fresh: dict[str, dict[str, Fresh]] = {
        "first call apply": {
            "kspec": lambda: partial(jax.jit(model.apply), variables, device_inputs[big]),
            "handwritten": lambda: partial(jax.jit(workload.apply), params, device_inputs[big]),
        },
        "first call train": {
            "kspec": lambda: partial(_train_float, _kspec(workload), x_train, y_train),
            "handwritten": lambda: _handwritten_trainer(workload, params, x_train, y_train),
        },
    }
    for column, build in peers.items():
        peer = build(workload)
        modes["apply B=1"][column] = lambda peer=peer: peer.apply(inputs[1])
        modes[f"apply B={big}"][column] = lambda peer=peer: peer.apply(inputs[big])
        modes[f"train B={workload.train_batch}"][column] = lambda peer=peer: peer.train(
            x_train, y_train
        )
        modes["predict B=1"][column] = lambda peer=peer: np.asarray(peer.apply(inputs[1]))
        fresh["first call apply"][column] = lambda build=build: partial(
            build(workload).apply, inputs[big]
        )
        fresh["first call train"][column] = lambda build=build: partial(
            build(workload).train, x_train, y_train
        )
    return {"modes": modes, "fresh": fresh}


def _train_float(model: kspec.Model, x: Any, y: Any) -> float:
    return float(model.train_on_batch(x, y))


def run(quick: bool) -> list[dict[str, Any]]:
    rounds, inner, first_rounds = (3, 1, 1) if quick else (11, 2, 5)
    peers = available_peers()
    rows: list[dict[str, Any]] = []
    for workload in WORKLOADS:
        built = contenders(workload, peers, workload.big_batch)
        for mode, fns in built["modes"].items():
            medians = interleaved(fns, rounds, inner)
            rows.append({"workload": workload.name, "mode": mode, "seconds": medians})
            print(f"  measured {workload.name} {mode}", flush=True)
        for mode, fresh in built["fresh"].items():
            seconds = first_calls(fresh, first_rounds)
            rows.append({"workload": workload.name, "mode": mode, "seconds": seconds})
            print(f"  measured {workload.name} {mode}", flush=True)
    return rows


def goal(workload: str, mode: str) -> float | None:
    """Issue 17's goals, as the highest kspec/hand-written ratio allowed (None: no goal)."""
    if mode.startswith("train"):
        return {"cnn": 0.6, "mlp": 1.0, "lstm": 0.9, "transformer": 1.05}.get(workload)
    if mode.startswith("apply"):
        return 1.0
    if mode.startswith("first call"):
        return 1.1
    return None


def verdict(row: dict[str, Any]) -> str:
    seconds = row["seconds"]
    if "kspec" not in seconds:
        return row.get("note", "")
    if row["mode"] == "predict B=1":  # goal: fixed cost <= hand-written + 0.1 ms
        extra = (seconds["kspec"] - seconds["handwritten"]) * 1e3
        return f"+{extra:.3f} ms (goal <= +0.1 ms: {'met' if extra <= 0.1 else 'MISSED'})"
    limit = goal(row["workload"], row["mode"])
    ratio = seconds["kspec"] / seconds["handwritten"]
    if limit is None:
        return ""
    return f"goal <= {limit}: {'met' if ratio <= limit else 'MISSED'}"


def _cell(seconds: dict[str, float], column: str) -> str:
    if column not in seconds:
        return "-"
    value = seconds[column]
    text = f"{value * 1e3:.1f} ms" if value >= 1e-2 else f"{value * 1e6:.0f} us"
    return f"{text} ({value / seconds['handwritten']:.2f})"


def table(rows: list[dict[str, Any]]) -> str:
    """The one table `make bench` prints: time per call (ratio to hand-written)."""
    header = ["workload", "mode", *COLUMNS, "kspec vs goal"]
    body = [
        [r["workload"], r["mode"], *(_cell(r["seconds"], c) for c in COLUMNS), verdict(r)]
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True))
             for line in [header, *body]]  # fmt: skip
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def chart(rows: list[dict[str, Any]], path: Path) -> bool:
    """A bar chart of every ratio to hand-written (log scale); False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    timed = [r for r in rows if r["seconds"]]
    others = [c for c in COLUMNS if c != "handwritten"]
    fig, ax = plt.subplots(figsize=(max(8, len(timed) * 0.7), 4.5))
    width = 0.8 / len(others)
    for i, column in enumerate(others):
        ratios = [r["seconds"].get(column, np.nan) / r["seconds"]["handwritten"] for r in timed]
        ax.bar(np.arange(len(timed)) + i * width, ratios, width, label=column)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_ylabel("time / hand-written JAX (lower is faster)")
    ax.set_xticks(np.arange(len(timed)) + 0.4 - width / 2)
    ax.set_xticklabels([f"{r['workload']}\n{r['mode']}" for r in timed], rotation=60, fontsize=7)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    parser.add_argument("--out", type=Path, default=HERE, help="where results.json/png go")
    args = parser.parse_args(argv)
    device = jax.devices()[0]
    print(f"kspec bench on {device.platform} ({device.device_kind}), {os.cpu_count()} CPUs; "
          f"peers: {', '.join(available_peers()) or 'none installed'}", flush=True)  # fmt: skip
    with jax.numpy_rank_promotion("allow"):  # Keras and the peers rely on rank promotion
        rows = run(args.quick)
    print(table(rows))
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"device": f"{device.platform}: {device.device_kind}", "quick": args.quick,
              "rows": rows}  # fmt: skip
    (args.out / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    drew = chart(rows, args.out / "results.png")
    print(
        f"wrote {args.out / 'results.json'}" + (f" and {args.out / 'results.png'}" if drew else "")
    )
