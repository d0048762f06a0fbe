"""Dropout's packed keep masks (compiler/dropout.py, `LoweringOptions.dropout_mask`): the keep
probability is exactly bernoulli's, the bit layout matches a NumPy unpacking of the same
random words, the elements are independent, and every dropout a model can hold takes the form
the switch names."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kspec
from kspec import LoweringOptions
from kspec.compiler.dropout import keep_mask, packed_fields
from tests.compiler.jaxprs import equations


@pytest.mark.parametrize(
    ("keep", "fields"),
    [
        (0.5, (1, 1)),
        (0.75, (2, 3)),
        (0.25, (2, 1)),
        (0.875, (4, 14)),  # 7/8: three bits would do, but 3 does not tile a word
        (0.625, (4, 10)),
        (1 - 1 / 65536, (16, 65535)),
        (0.9, None),  # not a multiple of 1/65536: bernoulli's draw
        (0.7, None),
        (1 - 1 / 2**17, None),
    ],
)
def test_packed_fields_keep_with_bernoullis_probability(keep: float, fields: Any) -> None:
    assert packed_fields(keep) == fields
    if fields is not None:  # q / 2^k is what bernoulli keeps with: ceil(p 2^23) / 2^23
        width, below = fields
        assert below / 2**width == math.ceil(float(np.float32(keep)) * 2**23) / 2**23


@pytest.mark.parametrize(("keep", "shape"), [(0.75, (5, 7)), (0.5, (3, 33)), (0.625, (9,))])
def test_packed_mask_unpacks_the_words_low_bits_first(keep: float, shape: tuple) -> None:
    """Against NumPy: word i holds elements i*w ... i*w + w - 1, element j in bits j*k..."""
    rng = jax.random.PRNGKey(3)
    width, below = packed_fields(keep)  # type: ignore[misc]
    per_word = 32 // width
    count = math.prod(shape)
    words = np.asarray(jax.random.bits(rng, (-(-count // per_word),), jnp.uint32))
    fields = [(int(w) >> (j * width)) & (2**width - 1) for w in words for j in range(per_word)]
    expected = (np.array(fields[:count]) < below).reshape(shape)
    np.testing.assert_array_equal(np.asarray(keep_mask(rng, keep, shape, packed=True)), expected)


@pytest.mark.parametrize("keep", [0.75, 0.5, 0.875])
def test_packed_mask_keeps_independent_elements_at_the_rate(keep: float) -> None:
    mask = np.asarray(keep_mask(jax.random.PRNGKey(0), keep, (400, 500), packed=True)).ravel()
    sigma = math.sqrt(keep * (1 - keep) / mask.size)
    assert abs(mask.mean() - keep) < 5 * sigma
    both = mask[:-1] & mask[1:]  # neighbours share a word: their fields must not correlate
    sigma_pairs = math.sqrt(keep**2 * (1 - keep**2) / both.size)
    assert abs(both.mean() - keep**2) < 5 * sigma_pairs


def test_rates_without_packed_fields_draw_bernoulli_from_both_words_of_each_hash() -> None:
    rng, shape = jax.random.PRNGKey(1), (6, 5)
    with jax.threefry_partitionable(False):
        expected = np.asarray(jax.random.bernoulli(rng, 0.9, shape))
    np.testing.assert_array_equal(np.asarray(keep_mask(rng, 0.9, shape, packed=True)), expected)
    jitted = jax.jit(lambda rng: keep_mask(rng, 0.9, shape, packed=True))  # set per equation
    np.testing.assert_array_equal(np.asarray(jitted(rng)), expected)
    assert not np.array_equal(np.asarray(jax.random.bernoulli(rng, 0.9, shape)), expected)


DROPOUTS = [  # (layers, input shape, elements of each per-element mask), all at rate 0.5
    ([{"type": "Dropout", "rate": 0.5}], [6, 8], [2 * 6 * 8]),
    ([{"type": "Dropout", "rate": 0.5, "noise_shape": [None, 1, 8]}], [6, 8], [2 * 8]),
    ([{"type": "SpatialDropout2D", "rate": 0.5}], [4, 4, 3], [2 * 3]),
    ([{"type": "AlphaDropout", "rate": 0.5}], [40], [2 * 40]),
    ([{"type": "LSTM", "units": 5, "dropout": 0.5, "recurrent_dropout": 0.5}], [4, 3],
     [2 * 3, 2 * 5]),
    ([{"type": "MultiHeadAttention", "num_heads": 2, "key_dim": 4, "dropout": 0.5,
       "inputs": ["x", "x"]}], [5, 8], [2 * 2 * 5 * 5]),
    ([{"type": "TransformerEncoder", "intermediate_dim": 8, "num_heads": 2, "dropout": 0.5}],
     [5, 8], [2 * 2 * 5 * 5, 2 * 5 * 8, 2 * 5 * 8]),
]  # fmt: skip


def _random_bit_counts(layers: list[dict[str, Any]], shape: list[int], form: str) -> list[int]:
    """The size of every random-bits draw in the training-mode apply, in trace order."""
    spec = {"kspec": 1, "inputs": {"x": shape}, "layers": layers}
    compiled = kspec.load(spec, lowering=LoweringOptions(dropout_mask=form)).compiled
    variables = jax.eval_shape(compiled.init, jax.random.PRNGKey(0))
    x = jax.ShapeDtypeStruct((2, *shape), jnp.float32)

    def apply(v: Any, x: Any, rng: Any) -> Any:
        return compiled.apply(v, {"x": x}, training=True, rng=rng)[0]

    jaxpr = jax.make_jaxpr(apply)(variables, x, jax.random.PRNGKey(0))
    return sorted(
        math.prod(e.params["shape"])
        for e in equations(jaxpr.jaxpr)
        if e.primitive.name == "random_bits"
    )


@pytest.mark.parametrize(("layers", "shape", "masks"), DROPOUTS)
def test_dropout_switch_picks_the_form_for_every_dropout(
    layers: list[dict[str, Any]], shape: list[int], masks: list[int]
) -> None:
    """Per element, one 32-bit word per element; packed at rate 0.5, one per 32 elements."""
    assert _random_bit_counts(layers, shape, "per_element") == sorted(masks)
    assert _random_bit_counts(layers, shape, "packed") == sorted(-(-n // 32) for n in masks)


def test_unknown_dropout_form_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"^LoweringOptions.dropout_mask must be one of auto, "
                       r"packed, per_element. Received: dropout_mask='bits'$"):  # fmt: skip
        LoweringOptions(dropout_mask="bits")  # type: ignore[arg-type]
