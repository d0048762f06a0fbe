"""LocallyConnected1D/2D against a NumPy reference written from Keras 2's `local_conv` and
`bias_add` (Keras 3 dropped the layers): one loop over output positions, slicing each patch."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

import kspec
from tests.parity.harness import RTOL, random_input, sequential_spec


def keras2_local_conv(
    x: np.ndarray,
    kernel: np.ndarray,
    bias: np.ndarray | None,
    size: tuple[int, ...],
    strides: tuple[int, ...],
    channels_first: bool,
) -> np.ndarray:
    """Keras 2 `implementation=1`: patch of each position flattened as stored (channels last:
    offsets then channels; channels first: channels then offsets), times that position's kernel;
    channels_first bias added through a *reshape* of the (*out, filters) bias, as Keras 2 did."""
    spatial = x.shape[2:] if channels_first else x.shape[1:-1]
    out = tuple((n - k) // s + 1 for n, k, s in zip(spatial, size, strides, strict=True))
    columns = []
    for i, position in enumerate(itertools.product(*(range(o) for o in out))):
        window = tuple(
            slice(p * s, p * s + k) for p, s, k in zip(position, strides, size, strict=True)
        )
        patch = (
            x[(slice(None), slice(None), *window)] if channels_first else x[(slice(None), *window)]
        )
        columns.append(patch.reshape(x.shape[0], -1) @ kernel[i])
    y = np.stack(columns, axis=1).reshape(x.shape[0], *out, kernel.shape[-1])
    if channels_first:
        y = np.moveaxis(y, -1, 1)
    if bias is not None:
        y = y + (bias.reshape(1, bias.shape[-1], *out) if channels_first else bias[None])
    return y


GRID = [
    ("1d", {"type": "LocallyConnected1D", "filters": 3, "kernel_size": 3}, (7, 2)),
    (
        "1d_strided_cf",
        {
            "type": "LocallyConnected1D",
            "filters": 2,
            "kernel_size": 2,
            "strides": 3,
            "data_format": "channels_first",
        },
        (3, 8),
    ),
    ("2d_odd_even", {"type": "LocallyConnected2D", "filters": 4, "kernel_size": [3, 2]}, (5, 4, 3)),
    (
        "2d_strided_cf",
        {
            "type": "LocallyConnected2D",
            "filters": 3,
            "kernel_size": 2,
            "strides": [2, 1],
            "data_format": "channels_first",
        },
        (2, 5, 4),
    ),
    (
        "2d_no_bias_relu",
        {
            "type": "LocallyConnected2D",
            "filters": 2,
            "kernel_size": 2,
            "strides": 2,
            "use_bias": False,
            "activation": "relu",
        },
        (4, 6, 2),
    ),
]


@pytest.mark.parametrize(("layer", "shape"), [g[1:] for g in GRID], ids=[g[0] for g in GRID])
def test_matches_keras2_reference(layer: dict[str, Any], shape: tuple[int, ...]) -> None:
    model = kspec.load(sequential_spec([layer], shape))
    model.init(0)
    rank = len(shape) - 1
    size = tuple(np.broadcast_to(layer["kernel_size"], rank))
    strides = tuple(np.broadcast_to(layer.get("strides", 1), rank))
    first = layer.get("data_format") == "channels_first"
    spatial = shape[1:] if first else shape[:-1]
    channels = shape[0] if first else shape[-1]
    out = tuple((n - k) // s + 1 for n, k, s in zip(spatial, size, strides, strict=True))
    filters = layer["filters"]
    rng = np.random.default_rng(1)
    kernel = rng.standard_normal((int(np.prod(out)), int(np.prod(size)) * channels, filters))
    weights = [kernel.astype(np.float32)]
    if layer.get("use_bias", True):
        weights.append(rng.standard_normal((*out, filters)).astype(np.float32))
    assert [w.shape for w in model.get_weights()] == [w.shape for w in weights]
    model.set_weights(weights)
    x = random_input(shape, seed=2)
    expected = keras2_local_conv(
        x, weights[0], weights[1] if len(weights) > 1 else None, size, strides, first
    )
    if layer.get("activation") == "relu":
        expected = np.maximum(expected, 0.0)
    np.testing.assert_allclose(model.predict(x), expected, rtol=RTOL, atol=1e-5)


def test_keras2_documented_parameter_count() -> None:
    # Keras 2 docs: LocallyConnected2D(64, (3, 3)) on 32x32x3 -> (30*30)*(3*3*3*64) + (30*30)*64
    model = kspec.load(
        sequential_spec(
            [{"type": "LocallyConnected2D", "filters": 64, "kernel_size": 3}], (32, 32, 3)
        )
    )
    model.init(0)
    assert model.compiled.output_shapes == [(None, 30, 30, 64)]
    assert sum(w.size for w in model.get_weights()) == 30 * 30 * 3 * 3 * 3 * 64 + 30 * 30 * 64


def test_keras1_names() -> None:
    layer = {
        "type": "LocallyConnected1D",
        "nb_filter": 4,
        "filter_length": 3,
        "subsample_length": 2,
        "border_mode": "valid",
        "bias": False,
    }
    with pytest.warns(kspec.KspecDeprecationWarning) as record:
        model = kspec.load(sequential_spec([layer], (9, 2)))
    messages = " ".join(str(w.message) for w in record)
    for old, new in [
        ("nb_filter", "filters"),
        ("filter_length", "kernel_size"),
        ("bias", "use_bias"),
    ]:
        assert f"`{old}` is a Keras 1 name; use `{new}`" in messages
    assert model.compiled.output_shapes == [(None, 4, 4)]
    model.init(0)
    assert [w.shape for w in model.get_weights()] == [(4, 6, 4)]
