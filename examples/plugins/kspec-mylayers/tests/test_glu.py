"""The plugin's own tests: kspec's conformance checks and a NumPy reference, as a plugin author
writes them. Run with the plugin installed (`pip install .`), so its entry point is found."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from kspec_mylayers import GatedLinearUnit

import kspec
from kspec.extend import load_plugins
from kspec.testing import Case, Invalid, check_layer

GLU_YAML = Path(__file__).resolve().parent.parent / "glu.yaml"


def reference(spec: Any, p: dict[str, np.ndarray], xs: list[np.ndarray]) -> list[np.ndarray]:
    """y = (x W + b) * sigmoid(x V + c), in NumPy."""
    (x,) = xs
    value, gate = x @ p["kernel"], x @ p["gate_kernel"]
    if spec.use_bias:
        value, gate = value + p["bias"], gate + p["gate_bias"]
    return [value / (1.0 + np.exp(-gate))]


def test_entry_point_registers_the_layer() -> None:
    (plugin,) = [p for p in load_plugins() if p.name == "kspec-mylayers"]
    assert plugin.types == ("GatedLinearUnit",) and plugin.error is None


def test_conformance() -> None:
    load_plugins()
    check_layer(
        GatedLinearUnit,
        [
            Case({"units": 3}, [[4]]),
            Case({"units": 5, "use_bias": False}, [[2, 6]]),
            Case({"units": 2, "bias_initializer": "ones"}, [[None, 4]], id="unknown-time"),
        ],
        invalid=[
            Invalid({"units": 3}, [[]], "rank >= 2"),
            Invalid({"units": 3}, [[4, None]], "known last dimension"),
        ],
        reference=reference,
    )


def test_spec_file_predicts() -> None:
    model = kspec.load(GLU_YAML)
    model.init(0)
    assert [w.shape for w in model.get_weights()] == [(8, 16), (16,), (8, 16), (16,), (16, 3), (3,)]
    x = np.random.default_rng(0).normal(size=(5, 8)).astype("float32")
    kernel, bias, gate_kernel, gate_bias, dense, dense_bias = model.get_weights()
    hidden = (x @ kernel + bias) / (1.0 + np.exp(-(x @ gate_kernel + gate_bias)))
    logits = hidden @ dense + dense_bias
    expected = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-6)
