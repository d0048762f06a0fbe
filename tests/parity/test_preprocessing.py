"""Parity of the preprocessing layers with Keras 3 (inference): Rescaling, Normalization
(given statistics, adapted state as weights, invert), Resizing, CenterCrop."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tests.parity.harness import assert_parity, keras_sequential, random_input, sequential_spec

L = keras.layers


def _randomised(model: keras.Model) -> keras.Model:
    rng = np.random.default_rng(3)
    # mean, variance (positive), count: Keras' adapted state
    weights = model.get_weights()
    model.set_weights(
        [rng.normal(size=w.shape) if i == 0 else np.abs(rng.normal(size=w.shape)) + 0.1
         if i == 1 else np.asarray(7, w.dtype) for i, w in enumerate(weights)]
    )  # fmt: skip
    model.layers[-1].finalize_state()  # Keras reads the state into its constants here
    return model


CASES = [
    ("rescaling", {"type": "Rescaling", "scale": 1 / 255, "offset": -0.5},
     lambda: L.Rescaling(1 / 255, offset=-0.5), (4, 4, 3)),
    ("rescaling_per_channel", {"type": "Rescaling", "scale": [1.0, 2.0, 0.5]},
     lambda: L.Rescaling([1.0, 2.0, 0.5]), (2, 3)),
    ("normalization_given", {"type": "Normalization", "mean": [1.0, -2.0], "variance": [4.0, 0.25]},
     lambda: L.Normalization(mean=[1.0, -2.0], variance=[4.0, 0.25]), (3, 2)),
    ("normalization_given_invert",
     {"type": "Normalization", "mean": 0.5, "variance": 2.0, "invert": True, "axis": None},
     lambda: L.Normalization(mean=0.5, variance=2.0, invert=True, axis=None), (3, 2)),
    ("normalization_axes", {"type": "Normalization", "axis": [1, 2], "mean": [[1.0, 2.0]] * 3,
                            "variance": [[1.0, 4.0]] * 3},
     lambda: L.Normalization(axis=[1, 2], mean=[[1.0, 2.0]] * 3, variance=[[1.0, 4.0]] * 3),
     (3, 2)),
    ("resizing_bilinear", {"type": "Resizing", "height": 5, "width": 3},
     lambda: L.Resizing(5, 3), (7, 4, 2)),
    ("resizing_nearest_antialias",
     {"type": "Resizing", "height": 3, "width": 2, "interpolation": "nearest"},
     lambda: L.Resizing(3, 2, interpolation="nearest"), (6, 5, 1)),
    ("resizing_bicubic_antialias",
     {"type": "Resizing", "height": 3, "width": 2, "interpolation": "bicubic", "antialias": True},
     lambda: L.Resizing(3, 2, interpolation="bicubic", antialias=True), (7, 5, 2)),
    ("center_crop", {"type": "CenterCrop", "height": 3, "width": 2},
     lambda: L.CenterCrop(3, 2), (6, 5, 2)),
    ("center_crop_cf",
     {"type": "CenterCrop", "height": 2, "width": 2, "data_format": "channels_first"},
     lambda: L.CenterCrop(2, 2, data_format="channels_first"), (2, 5, 4)),
]  # fmt: skip


@pytest.mark.parametrize(("case_id", "layer", "keras_layer", "shape"), CASES)
def test_preprocessing_parity(case_id: str, layer: dict, keras_layer, shape: tuple) -> None:
    model = keras_sequential([keras_layer()], shape)
    assert_parity(sequential_spec([layer], shape), model, random_input(shape) * 3.0)


@pytest.mark.parametrize("invert", [False, True])
def test_normalization_adapted_state_is_weights(invert: bool) -> None:
    shape = (3, 4)
    model = _randomised(keras_sequential([L.Normalization(axis=-1, invert=invert)], shape))
    assert [w.shape for w in model.get_weights()] == [(4,), (4,), ()]
    spec = sequential_spec([{"type": "Normalization", "invert": invert}], shape)
    ours = assert_parity(spec, model, random_input(shape))
    assert [str(w.dtype) for w in ours.get_weights()] == ["float32", "float32", "int32"]
