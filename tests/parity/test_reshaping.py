"""Parity of the spatial reshaping layers with Keras 3: cropping, zero padding and upsampling
over both layouts, per-axis and asymmetric amounts (shape rules: see test_pooling.py)."""

from __future__ import annotations

import pytest

from tests.parity.harness import LayerCase, run_layer_case
from tests.parity.test_pooling import CF, row

GRID = [
    # Cropping and zero padding: int, per-axis, asymmetric.
    row("crop1d_asym", {"type": "Cropping1D", "cropping": [0, 2]}, (6, 3)),
    row(
        "crop2d_per_axis_cf",
        {"type": "Cropping2D", "cropping": [1, 2], "data_format": CF},
        (2, 5, 6),
    ),
    row("crop2d_asym", {"type": "Cropping2D", "cropping": [[2, 0], [1, 3]]}, (5, 7, 2)),
    row("crop3d_mixed", {"type": "Cropping3D", "cropping": [1, [0, 2], 0]}, (4, 5, 3, 2)),
    row("pad1d_asym_cf", {"type": "ZeroPadding1D", "padding": [2, 0], "data_format": CF}, (3, 4)),
    row("pad2d_asym", {"type": "ZeroPadding2D", "padding": [[0, 1], [2, 3]]}, (3, 4, 2)),
    row("pad3d_int_cf", {"type": "ZeroPadding3D", "padding": 1, "data_format": CF}, (2, 2, 3, 2)),
    # Upsampling: nearest, bilinear (half-pixel centres), bicubic, both layouts.
    row("up1d", {"type": "UpSampling1D", "size": 3}, (4, 2)),
    row("up2d_nearest_cf", {"type": "UpSampling2D", "size": [2, 3], "data_format": CF}, (2, 3, 4)),
    row(
        "up2d_bilinear",
        {"type": "UpSampling2D", "size": [3, 2], "interpolation": "bilinear"},
        (5, 4, 2),
    ),
    row(
        "up2d_bilinear_cf",
        {"type": "UpSampling2D", "interpolation": "bilinear", "data_format": CF},
        (2, 3, 5),
    ),
    row("up2d_bicubic", {"type": "UpSampling2D", "size": 2, "interpolation": "bicubic"}, (4, 3, 1)),
    row("up3d_cf", {"type": "UpSampling3D", "size": [1, 2, 3], "data_format": CF}, (2, 2, 3, 2)),
]


@pytest.mark.parametrize("case", GRID, ids=lambda c: c.id)
def test_layer_parity(case: LayerCase) -> None:
    run_layer_case(case)
