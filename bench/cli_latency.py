"""CLI latency, each command in a fresh process as a user runs it (issue 13, item 4).

- `kspec validate` of a generated 200-layer spec vs `python -c "import jax"`: goal <= 0.8
  (validate imports no JAX, so it should cost less than importing JAX alone).
- `kspec predict` of the MNIST CNN (examples/mnist_cnn.yaml) on 256 images vs Keras 3
  `load_model(".keras")` + `predict` of the same network and weights: goal <= 0.5, with an
  empty compilation cache (first run) and a warm one (cached run).

Runs are interleaved (one of each per round), and the ratios are of medians.
`python -m bench.cli_latency [--rounds N]` (default 3: the quick mode `make bench` uses).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
KSPEC = Path(sys.executable).parent / "kspec"
MNIST = ROOT / "examples" / "mnist_cnn.yaml"
IMAGES = 256
VALIDATE_GOAL, PREDICT_GOAL = 0.8, 0.5
KERAS_PREDICT = """
import sys, numpy as np, keras
model = keras.models.load_model(sys.argv[1])
np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), batch_size=32, verbose=0))
"""


def wide_spec(layers: int = 200) -> str:
    """A spec of `layers` nodes over the common layer kinds (residual adds included)."""
    lines = ["kspec: 1", "name: wide", "inputs: {x: [16, 8]}", "layers:"]
    kinds = [
        "{type: Dense, units: 8, activation: relu}",
        "{type: LayerNormalization}",
        "{type: Dropout, rate: 0.1}",
        "{type: Conv1D, filters: 8, kernel_size: 3, padding: same}",
        "{type: BatchNormalization}",
    ]
    for i in range(layers - 1):
        lines.append(f"  - {kinds[i % len(kinds)]}")
    lines.append("  - {type: GlobalAveragePooling1D}")
    return "\n".join(lines) + "\n"


def seconds(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return elapsed


def prepare(work: Path) -> tuple[Path, Path, Path, Path]:
    """The spec, a kspec run directory and a `.keras` file of the same MNIST CNN (the same
    weights), and 256 images."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    import kspec

    spec = work / "wide.yaml"
    spec.write_text(wide_spec())
    model = kspec.load(MNIST)
    model.init(0)
    run = work / "run"
    model.save_weights(run / "model")  # what `kspec fit --out` leaves, predict reads
    reference = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Dropout(0.25),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    reference.set_weights(model.get_weights())
    keras_file = work / "mnist.keras"
    reference.save(keras_file)
    images = work / "images.npy"
    np.save(images, np.random.default_rng(0).random((IMAGES, 28, 28, 1), np.float32))
    return spec, run, keras_file, images


def measure(rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        spec, run, keras_file, images = prepare(work)
        base = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION")}
        warm = {**base, "KSPEC_CACHE_DIR": str(work / "warm")}
        keras_env = {**base, "KERAS_BACKEND": "jax"}

        def predict(env: dict[str, str]) -> float:
            out = work / "kspec.npy"
            return seconds([str(KSPEC), "predict", str(run), "--input", str(images),
                            "-o", str(out)], env)  # fmt: skip

        predict(warm)  # fills the warm cache
        times: dict[str, list[float]] = {k: [] for k in ("jax", "validate", "keras", "first",
                                                         "cached")}  # fmt: skip
        for i in range(rounds):
            times["jax"].append(seconds([sys.executable, "-c", "import jax"], base))
            times["validate"].append(seconds([str(KSPEC), "validate", str(spec)], base))
            times["keras"].append(
                seconds(
                    [
                        sys.executable,
                        "-c",
                        KERAS_PREDICT,
                        str(keras_file),
                        str(images),
                        str(work / "keras.npy"),
                    ],
                    keras_env,
                )
            )
            times["first"].append(predict({**base, "KSPEC_CACHE_DIR": str(work / f"cold{i}")}))
            times["cached"].append(predict(warm))
        agree = np.allclose(np.load(work / "kspec.npy"), np.load(work / "keras.npy"), atol=1e-5)
        if not agree:
            raise RuntimeError("kspec and Keras predictions differ: the comparison is void")
    return {k: statistics.median(v) for k, v in times.items()}


def main(rounds: int = 3) -> None:
    m = measure(rounds)
    validate, first, cached = (
        m["validate"] / m["jax"],
        m["first"] / m["keras"],
        m["cached"] / m["keras"],
    )
    print(f"CLI latency, fresh processes, median of {rounds} interleaved rounds (seconds)")
    print(f"  kspec validate (200 layers) {m['validate']:6.2f}   import jax {m['jax']:6.2f}   "
          f"ratio {validate:.2f} (goal <= {VALIDATE_GOAL})")  # fmt: skip
    print(f"  kspec predict (MNIST CNN, {IMAGES} images): first {m['first']:6.2f}, cached "
          f"{m['cached']:6.2f}   Keras load_model+predict {m['keras']:6.2f}")  # fmt: skip
    print(f"  ratio first {first:.2f}, cached {cached:.2f} (goal <= {PREDICT_GOAL})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    main(parser.parse_args().rounds)
