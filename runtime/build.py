"""`kspec build`: a spec file -> a model directory (docs/model-directory.md) with fresh
weights, plus `summary.txt`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import jax

from kspec.compiler import check_memory
from kspec.runtime.api import load
from kspec.runtime.memory_budget import max_memory
from kspec.runtime.model_paths import CHECKPOINT, SPEC
from kspec.runtime.summary import render_summary


@dataclass(frozen=True)
class BuildResult:
    spec: Path
    checkpoint: Path
    summary: Path
    summary_text: str
    compile_seconds: float


def build(file: Path, output: Path, *, seed: int = 0, batch_size: int = 1) -> BuildResult:
    """Validate, initialize with `seed`, AOT-compile apply for the declared input shapes at
    `batch_size`, and write the model directory `output` (spec, checkpoint) and its
    `summary.txt`."""
    model = load(file)
    check_memory(model.compiled, batch_size, limit=max_memory())  # before init allocates
    variables = model.init(seed)
    started = time.perf_counter()
    inputs = {
        name: jax.ShapeDtypeStruct(
            tuple(
                batch_size if d is None else d for d in (spec.batch_size or batch_size, *spec.shape)
            ),
            spec.dtype,
        )
        for name, spec in model.spec.inputs.items()
    }
    jax.jit(lambda v, x: model.compiled.apply(v, x)[0]).lower(variables, inputs).compile()
    compile_seconds = time.perf_counter() - started
    model.save(output)
    summary_text = render_summary(model)
    summary_path = output / "summary.txt"
    summary_path.write_text(summary_text)
    return BuildResult(
        output / SPEC, output / CHECKPOINT, summary_path, summary_text, compile_seconds
    )
