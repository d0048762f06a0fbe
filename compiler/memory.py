"""What a model will cost in memory, known from its inferred shapes before anything is allocated.

`Dense(100000)` on 100,000 inputs is a 40 GB kernel: allocating it kills the process with a
native abort, not an error. So build, init and fit first price the model: parameter bytes from
the weight shapes (`jax.eval_shape` of `init`: no allocation), activation bytes from every
inferred tensor shape at the batch size, and refuse with a `LimitError` when the price is over
the memory available (or a budget: `kspec.runtime.memory_budget`, the CLI's `--max-memory`).
Unrolled RNNs are refused past `MAX_UNROLLED_STEPS`: each step is a copy of the cell in the
compiled program, so a long unrolled sequence is unbounded compile work.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from kspec.compiler.deferred import jax, np
from kspec.compiler.lowering import abstract_key
from kspec.compiler.model import CompiledModel
from kspec.errors import Diagnostic, LimitError

MAX_UNROLLED_STEPS = 1_000
"""Most timesteps an `unroll: true` recurrent layer may run over."""
TRAINING_FACTOR = 4
"""Training holds the parameters, their gradients and two optimizer moments (Adam)."""
ACTIVATION_BYTES = 4
"""Bytes per activation value (float32)."""


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a model needs: weights (and training copies), and activations for one batch."""

    parameter_bytes: int
    activation_bytes: int

    @property
    def total(self) -> int:
        return self.parameter_bytes + self.activation_bytes


def estimate_memory(
    compiled: CompiledModel, batch_size: int = 1, *, training: bool = False
) -> MemoryEstimate:
    """The bytes `compiled` needs at `batch_size` (an estimate: unknown lengths count as 1,
    and a layer's temporaries beyond its outputs are not counted)."""
    weights = jax.eval_shape(compiled.init, abstract_key())
    parameters = sum(
        math.prod(leaf.shape) * np.dtype(leaf.dtype).itemsize for leaf in jax.tree.leaves(weights)
    )
    factor = TRAINING_FACTOR if training else 1
    values = _activation_values(compiled, batch_size)
    return MemoryEstimate(parameters * factor, values * ACTIVATION_BYTES * (1 + training))


def check_memory(
    compiled: CompiledModel,
    batch_size: int = 1,
    *,
    training: bool = False,
    limit: int | None = None,
) -> None:
    """Refuse a model that cannot fit in `limit` bytes (default: what the device has free),
    before allocating it; see the module docstring."""
    _check_unrolled(compiled)
    estimate = estimate_memory(compiled, batch_size, training=training)
    available = limit if limit is not None else available_memory()
    if estimate.total > available:
        source = "the --max-memory budget" if limit is not None else "the memory available"
        what = "training" if training else "the model"
        raise LimitError(
            f"{what} needs about {format_bytes(estimate.total)} at batch size {batch_size} "
            f"(parameters {format_bytes(estimate.parameter_bytes)}, activations "
            f"{format_bytes(estimate.activation_bytes)}), more than {source} "
            f"({format_bytes(available)}); make the layers smaller"
        )


def available_memory() -> int:
    """Bytes free on the default device: its allocator's limit less what is in use, or, on
    the CPU, the host's available memory."""
    device = jax.devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def format_bytes(size: int) -> str:
    """`40000000000` -> `37.3 GiB`."""
    value, unit = float(size), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            break
        value /= 1024
    return f"{value:.1f} {unit}" if unit != "B" else f"{size} B"


def _activation_values(compiled: CompiledModel, batch_size: int) -> int:
    """Values of every tensor of the graph and of its sub-models; the batch axis (and any
    other unknown size) at `batch_size` / 1."""
    total = 0
    for shape in compiled.shapes.values():
        batch, *rest = shape or (1,)
        total += (batch or batch_size) * math.prod(d or 1 for d in rest)
    for submodel in compiled.submodels.values():
        total += _activation_values(submodel, batch_size)
    return total


def _check_unrolled(compiled: CompiledModel) -> None:
    for node in compiled.graph.nodes:
        spec: Any = node.spec
        cell = spec if hasattr(spec, "unroll") else getattr(spec, "layer", None)
        shapes = compiled.input_shapes_of(node)
        if getattr(cell, "unroll", False) and shapes and len(shapes[0]) > 1:
            steps = shapes[0][1] or 0
            if steps > MAX_UNROLLED_STEPS:
                raise LimitError(
                    Diagnostic(
                        f"unroll=True over {steps:,} timesteps would compile {steps:,} copies "
                        f"of the cell (at most {MAX_UNROLLED_STEPS:,}); use unroll: false",
                        node.location,
                        node.name,
                    )
                )
    for submodel in compiled.submodels.values():
        _check_unrolled(submodel)
