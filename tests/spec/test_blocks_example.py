"""examples/resnet_blocks.yaml, written with template blocks, is the same network as the one
written out by hand: same nodes, same weights from the same seed, the same outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

import kspec
from kspec.schemas.graph import wire

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "resnet_blocks.yaml"

CONV = {"type": "Conv2D", "kernel_size": 3, "padding": "same", "use_bias": False}


def residual(name: str, filters: int, previous: str) -> list[dict[str, Any]]:
    return [
        {**CONV, "name": f"{name}_conv1", "filters": filters, "inputs": [previous]},
        {"type": "BatchNormalization", "name": f"{name}_bn1"},
        {"type": "ReLU", "name": f"{name}_relu1"},
        {**CONV, "name": f"{name}_conv2", "filters": filters},
        {"type": "BatchNormalization", "name": f"{name}_bn2"},
        {"type": "Add", "name": f"{name}_add", "inputs": [f"{name}_bn2", previous]},
        {"type": "ReLU", "name": name},
    ]


def downsample(name: str, filters: int, previous: str) -> list[dict[str, Any]]:
    projection = {**CONV, "kernel_size": 1, "padding": "valid", "strides": 2}
    return [
        {**CONV, "name": f"{name}_conv1", "filters": filters, "strides": 2},
        {"type": "BatchNormalization", "name": f"{name}_bn1"},
        {"type": "ReLU", "name": f"{name}_relu1"},
        {**CONV, "name": f"{name}_conv2", "filters": filters},
        {"type": "BatchNormalization", "name": f"{name}_bn2"},
        {**projection, "name": f"{name}_projection", "filters": filters, "inputs": [previous]},
        {"type": "BatchNormalization", "name": f"{name}_projection_bn"},
        {"type": "Add", "name": f"{name}_add", "inputs": [f"{name}_bn2", f"{name}_projection_bn"]},
        {"type": "ReLU", "name": name},
    ]


HAND_WRITTEN = {
    "kspec": 1,
    "name": "resnet_blocks",
    "inputs": {"image": {"shape": [32, 32, 3]}},
    "layers": [
        {**CONV, "name": "stem", "filters": 16},
        {"type": "BatchNormalization", "name": "stem_bn"},
        {"type": "ReLU", "name": "stem_relu"},
        *residual("res1", 16, "stem_relu"),
        *downsample("down2", 32, "res1"),
        *residual("res2", 32, "down2"),
        *downsample("down3", 64, "res2"),
        *residual("res3", 64, "down3"),
        {"type": "GlobalAveragePooling2D", "name": "pool"},
        {"type": "Dense", "name": "classifier", "units": 10, "activation": "softmax"},
    ],
}


def test_blocks_give_the_network_written_out_by_hand() -> None:
    with_blocks, by_hand = kspec.load(EXAMPLE), kspec.load(HAND_WRITTEN)
    assert wire(with_blocks.spec) == wire(by_hand.spec)  # same nodes, same connections
    layers = [n.model_dump(exclude={"inputs"}) for n in with_blocks.spec.layers]
    assert layers == [n.model_dump(exclude={"inputs"}) for n in by_hand.spec.layers]
    a, b = with_blocks.init(0), by_hand.init(0)
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)
    image = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_array_equal(with_blocks.predict(image), by_hand.predict(image))
