"""Parity of LayerScale (ConvNeXt) and CustomScaleLayer (InceptionResNetV2) with the classes
Keras 3's applications define, random gamma included."""

from __future__ import annotations

import keras
import numpy as np
from keras.src.applications.convnext import LayerScale
from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

from tests.parity.harness import assert_parity, keras_side, random_input


def test_layer_scale() -> None:
    with keras_side():
        inp = keras.Input((3, 4))
        model = keras.Model(inp, LayerScale(1e-6, 4)(inp))
        model.set_weights([np.random.default_rng(0).normal(size=4).astype("float32")])
    spec = {
        "kspec": 1,
        "inputs": {"x": {"shape": [3, 4]}},
        "layers": [{"type": "LayerScale", "init_values": 1e-6, "projection_dim": 4}],
    }
    assert_parity(spec, model, random_input((3, 4)))


def test_custom_scale_layer() -> None:
    with keras_side():
        a, b = keras.Input((2, 3)), keras.Input((2, 3))
        model = keras.Model([a, b], CustomScaleLayer(0.17)([a, b]))
    spec = {
        "kspec": 1,
        "inputs": {"a": {"shape": [2, 3]}, "b": {"shape": [2, 3]}},
        "layers": [{"type": "CustomScaleLayer", "scale": 0.17, "inputs": ["a", "b"]}],
    }
    assert_parity(spec, model, [random_input((2, 3), 0), random_input((2, 3), 1)])
