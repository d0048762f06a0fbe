"""Every bundled example validates, initializes and runs with the shapes it declares."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import kspec

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs_with_declared_shapes(path: Path) -> None:
    model = kspec.load(path)
    model.init(0)
    batch = 3
    inputs = [
        np.random.default_rng(0).normal(size=(batch, *spec.shape)).astype(spec.dtype)
        for spec in model.spec.inputs.values()
    ]
    outputs = model.predict(*inputs)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    for output, declared in zip(outputs, model.compiled.output_shapes, strict=True):
        assert output.shape == (batch, *declared[1:])
        assert np.all(np.isfinite(output))


def test_examples_exist() -> None:
    assert {p.stem for p in EXAMPLES} >= {"mlp", "siamese"}
