"""Models that cannot fit are refused from their inferred shapes, before anything is allocated
(`Dense(100000)` on 100,000 inputs used to abort the process natively)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

import kspec
from kspec.compiler.memory import MAX_UNROLLED_STEPS, estimate_memory
from kspec.errors import LimitError
from kspec.runtime.build import build
from kspec.runtime.memory_budget import memory_limit

SECONDS = 10.0  # of this process's CPU time: what the input costs, whatever the machine's load


def dense(inputs: int, units: int, extra: str = "") -> str:
    layer = f"  - {{type: Dense, units: {units}}}\n"
    return f"kspec: 1\ninputs: {{x: [{inputs}]}}\nlayers:\n{layer}{extra}"


def test_estimate_counts_weights_and_every_tensor() -> None:
    compiled = kspec.load(dense(4, 3)).compiled
    estimate = estimate_memory(compiled, batch_size=2)
    assert estimate.parameter_bytes == (4 * 3 + 3) * 4  # kernel and bias, float32
    assert estimate.activation_bytes == (2 * 4 + 2 * 3) * 4  # input and output at batch 2
    training = estimate_memory(compiled, batch_size=2, training=True)
    assert training.parameter_bytes == 4 * estimate.parameter_bytes  # + grads, two moments
    assert training.activation_bytes == 2 * estimate.activation_bytes


def test_dense_100000_on_100000_inputs_is_refused_before_allocating() -> None:
    model = kspec.load(dense(100_000, 100_000))
    started = time.process_time()
    with memory_limit(2**30), pytest.raises(LimitError) as info:
        model.init(0)
    assert time.process_time() - started < SECONDS
    assert str(info.value) == (
        "error: the model needs about 37.3 GiB at batch size 1 (parameters 37.3 GiB, "
        "activations 781.2 KiB), more than the --max-memory budget (1.0 GiB); make the layers "
        "smaller"
    )


def test_refused_against_the_free_memory_without_a_budget() -> None:
    """3.6 TiB of kernel fits on no machine this runs on."""
    with pytest.raises(LimitError, match=r"needs about 3\.6 TiB .* more than the memory available"):
        kspec.load(dense(1_000_000, 1_000_000)).init(0)


def test_fit_prices_training_at_its_batch_size() -> None:
    model = kspec.load(dense(1000, 1000, "compile: {optimizer: adam, loss: mse}\n"))
    x, y = np.zeros((4, 1000), np.float32), np.zeros((4, 1000), np.float32)
    with memory_limit(12 * 2**20):  # 4 MB of weights; training holds 16 MB of them
        model.init(0)
        with pytest.raises(LimitError, match=r"^error: training needs about 15\.3 MiB at batch"):
            model.fit(x, y, batch_size=4, verbose=0)


def test_build_refuses_at_the_batch_size_it_compiles_for(tmp_path: Path) -> None:
    spec = tmp_path / "wide.yaml"
    spec.write_text(dense(1000, 10))
    with memory_limit(2**20), pytest.raises(LimitError, match="at batch size 100000 "):
        build(spec, tmp_path / "out", batch_size=100_000)
    assert not (tmp_path / "out").exists()


def test_unrolled_rnn_over_a_long_sequence() -> None:
    steps = 100_000
    spec = (
        f"kspec: 1\ninputs: {{x: [{steps}, 2]}}\nlayers:\n"
        "  - {type: SimpleRNN, units: 2, unroll: true}\n"
    )
    with pytest.raises(LimitError) as info:
        kspec.load(spec).init(0)
    assert str(info.value) == (
        f"<string>:4:5: error: node 'simple_rnn': unroll=True over {steps:,} timesteps would "
        f"compile {steps:,} copies of the cell (at most {MAX_UNROLLED_STEPS:,}); use unroll: false"
    )


def test_seeds_beyond_int64() -> None:
    with pytest.raises(LimitError, match=r"^error: seed 36893488147419103232 does not fit in 64"):
        kspec.load(dense(4, 3)).init(2**65)
