"""Masks on multi-axis MultiHeadAttention against Keras 3: Keras masks (from `Masking`) on
attention over the last axis before the features of rank-4 inputs, `attention_mask` of the
scores' rank (with and without the heads axis) for 2-D attention over images, and the
layouts where Keras refuses its masks, refused here at the node's line."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

import kspec
from kspec.errors import SpecError
from tests.parity.harness import assert_random_parity, keras_side

L = keras.layers
RNG = np.random.default_rng(5)


def _images(*shape: int, blank: bool = True) -> np.ndarray:
    """Random (batch, height, width, channels) values; with `blank`, some pixels all zero
    (what `Masking` masks), never a whole row of keys."""
    x = RNG.standard_normal(shape).astype(np.float32)
    if blank:
        x[0, 1, 2:] = 0.0
        x[1, :, 3] = 0.0
    return x


def _allowed(*shape: int) -> np.ndarray:
    """A 0/1 attention_mask whose last two axes are (height, width) of the keys; every query
    keeps key (0, 0), so no row is wholly masked."""
    allowed = RNG.integers(0, 2, shape).astype(np.int32)
    allowed[..., 0, 0] = 1
    return allowed


@pytest.mark.parametrize("scores", [False, True], ids=["output", "scores"])
@pytest.mark.parametrize("with_attention_mask", [False, True], ids=["masking", "masking+mask"])
def test_masking_on_the_last_axis_of_rank_4_inputs(scores: bool, with_attention_mask: bool) -> None:
    """`attention_axes: [2]` on (batch, rows, time, features): Keras' query mask `[B, X, T, 1]`
    and value mask `[B, X, 1, S]` fit the scores `[B, X, heads, T, S]`, AND-ed with an
    `attention_mask` `[B, X, T, S]`."""
    inputs = {"x": [3, 5, 4]} | (
        {"m": {"shape": [3, 5, 5], "dtype": "int32"}} if with_attention_mask else {}
    )
    args = {"query": "masking", "value": "masking"} | (
        {"attention_mask": "m"} if with_attention_mask else {}
    )
    spec = {
        "kspec": 1,
        "inputs": inputs,
        "layers": [
            {"type": "Masking", "inputs": ["x"]},
            {"type": "MultiHeadAttention", "name": "att", "num_heads": 2, "key_dim": 3,
             "attention_axes": [2], "return_attention_scores": scores, "inputs": args},
        ],
        "outputs": ["att:0", "att:1"] if scores else ["att"],
    }  # fmt: skip
    with keras_side():
        x = keras.Input((3, 5, 4))
        m = keras.Input((3, 5, 5), dtype="int32")
        h = L.Masking()(x)
        out = L.MultiHeadAttention(2, 3, attention_axes=(2,))(
            h, h, attention_mask=m if with_attention_mask else None,
            return_attention_scores=scores,
        )  # fmt: skip
        keras_model = keras.Model(
            [x, m] if with_attention_mask else x, list(out) if scores else out
        )
    xs = [_images(2, 3, 5, 4)] + ([_allowed(2, 3, 5, 5)] if with_attention_mask else [])
    assert_random_parity(spec, keras_model, xs)


@pytest.mark.parametrize("heads_axis", [False, True], ids=["BHWHW", "B1HWHW"])
@pytest.mark.parametrize("scores", [False, True], ids=["output", "scores"])
def test_attention_mask_on_2d_image_attention(heads_axis: bool, scores: bool) -> None:
    """`attention_axes: [1, 2]` on (batch, height, width, channels): the scores are
    `[B, heads, H, W, H, W]`; an `attention_mask` `[B, H, W, H, W]` gains the heads axis as
    Keras inserts it, one `[B, 1, H, W, H, W]` broadcasts over heads."""
    shape = (2, 3, 4, 3, 4) if not heads_axis else (2, 1, 3, 4, 3, 4)
    spec = {
        "kspec": 1,
        "inputs": {"x": [3, 4, 5], "m": {"shape": list(shape[1:]), "dtype": "int32"}},
        "layers": [
            {"type": "MultiHeadAttention", "name": "att", "num_heads": 2, "key_dim": 3,
             "attention_axes": [1, 2], "return_attention_scores": scores,
             "inputs": {"query": "x", "value": "x", "attention_mask": "m"}},
        ],
        "outputs": ["att:0", "att:1"] if scores else ["att"],
    }  # fmt: skip
    with keras_side():
        x, m = keras.Input((3, 4, 5)), keras.Input(shape[1:], dtype="int32")
        out = L.MultiHeadAttention(2, 3, attention_axes=(1, 2))(
            x, x, attention_mask=m, return_attention_scores=scores
        )
        keras_model = keras.Model([x, m], list(out) if scores else out)
    assert_random_parity(spec, keras_model, [_images(2, 3, 4, 5, blank=False), _allowed(*shape)])


@pytest.mark.parametrize(
    ("shape", "axes"), [((4, 4, 5), (1, 2)), ((3, 4, 5), (1, 2)), ((3, 4, 5), (1,))]
)
def test_keras_masks_keras_refuses_are_located_errors(
    tmp_path: Path, shape: tuple, axes: tuple
) -> None:
    """Where Keras' Softmax refuses the query/value masks (they are laid out for attention
    over the last axis before the features), kspec refuses at the node's line."""
    with keras_side():
        x = keras.Input(shape)
        h = L.Masking()(x)
        model = keras.Model(x, L.MultiHeadAttention(2, 3, attention_axes=axes)(h, h))
        with pytest.raises(ValueError, match="The `mask` must be broadcastable to `inputs`"):
            model.predict(_images(2, *shape), verbose=0)
    path = tmp_path / "model.yaml"
    path.write_text(
        f"kspec: 1\ninputs: {{x: {list(shape)}}}\nlayers:\n  - {{type: Masking}}\n"
        f"  - {{type: MultiHeadAttention, num_heads: 2, key_dim: 3, attention_axes: "
        f"{list(axes)}, inputs: [masking, masking]}}\n"
    )
    with pytest.raises(SpecError) as info:
        kspec.load(path)
    assert (
        f"model.yaml:5:5: error: node 'multi_head_attention': MultiHeadAttention: the Keras "
        f"mask of `query` applies to attention over the last axis before the features only. "
        f"Received: query_shape=(None, {', '.join(map(str, shape))}), attention_axes="
        f"{list(axes)}; pass an `attention_mask` shaped like the scores without the heads "
        f"axis instead" in str(info.value)
    )
