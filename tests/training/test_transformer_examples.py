"""The transformer examples (vit_tiny, bert_tiny, gpt_tiny) validate, build, train a step
(the loss is finite and the weights move) and round-trip through to_yaml. Training them to
accuracy is `make vit` / `make gpt` (examples/transformers.py), not a test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import kspec
from kspec.runtime.api import check
from kspec.runtime.build import build

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RNG = np.random.default_rng(0)


def _batch(name: str) -> tuple[np.ndarray, np.ndarray]:
    if name == "vit_tiny":
        return RNG.random((8, 8, 8, 1), dtype=np.float32), RNG.integers(0, 10, 8)
    if name == "bert_tiny":
        ids = RNG.integers(1, 64, (8, 16)).astype(np.int32)
        ids[:, 10:] = 0  # padded
        return ids, RNG.integers(0, 2, 8)
    ids = RNG.integers(0, 13, (8, 17)).astype(np.int32)
    return ids, np.roll(ids, -1, axis=1)


@pytest.mark.parametrize("name", ["vit_tiny", "bert_tiny", "gpt_tiny"])
def test_example_builds_trains_a_step_and_round_trips(name: str, tmp_path: Path) -> None:
    path = EXAMPLES / f"{name}.yaml"
    check(path)
    build(path, tmp_path / "out")
    model = kspec.load(path)
    model.init(0)
    before = [w.copy() for w in model.get_weights()]
    x, y = _batch(name)
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    again = kspec.load(model.to_yaml())
    assert again.spec == model.spec
