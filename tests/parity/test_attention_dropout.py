"""GroupQueryAttention's attention dropout, as Keras 3 applies it: on the attention
probabilities (after the masked softmax), `1 / (1 - rate)` scaled, in training only; the
returned scores are the probabilities before dropout. Inference is checked against Keras; the
training mask is recovered from the output of a model whose weights make each head's output
its kept probability mass, then a NumPy reference with that mask checks randomised weights."""

from __future__ import annotations

import itertools
from typing import Any

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import kspec
from tests.parity.harness import RTOL, assert_random_parity, keras_side

L = keras.layers
RNG = np.random.default_rng(11)
RATE, HEADS, KV_HEADS, HEAD, DIM, T, S = 0.5, 2, 1, 2, 4, 4, 5


def _spec(**fields: Any) -> dict[str, Any]:
    layer = {"type": "GroupQueryAttention", "name": "att", "head_dim": HEAD,
             "num_query_heads": HEADS, "num_key_value_heads": KV_HEADS, "dropout": RATE,
             "return_attention_scores": True, **fields}  # fmt: skip
    return {
        "kspec": 1,
        "inputs": {"q": [T, DIM], "v": [S, DIM]},
        "layers": [{**layer, "inputs": ["q", "v"]}],
        "outputs": ["att:0", "att:1"],
    }


def _inputs() -> dict[str, np.ndarray]:
    return {
        "q": RNG.standard_normal((2, T, DIM)).astype(np.float32),
        "v": RNG.standard_normal((2, S, DIM)).astype(np.float32),
    }


def _run(model: kspec.Model, xs: dict, training: bool, key: int = 0) -> list[np.ndarray]:
    rng = jax.random.PRNGKey(key) if training else None
    inputs = {k: jnp.asarray(v) for k, v in xs.items()}
    outputs, _ = model.compiled.apply(model.variables, inputs, training=training, rng=rng)
    return [np.asarray(o) for o in outputs]


def test_inference_ignores_dropout_as_keras() -> None:
    with keras_side():
        q, v = keras.Input((T, DIM)), keras.Input((S, DIM))
        out = L.GroupQueryAttention(HEAD, HEADS, KV_HEADS, dropout=RATE)(
            q, v, return_attention_scores=True
        )
        keras_model = keras.Model([q, v], list(out))
    xs = _inputs()
    model = assert_random_parity(_spec(), keras_model, [xs["q"], xs["v"]])
    assert all(np.array_equal(a, b) for a, b in zip(_run(model, xs, False), model.predict(
        [xs["q"], xs["v"]]), strict=True))  # fmt: skip


def _mass_model() -> kspec.Model:
    """Weights under which output feature `2 h` is head h's kept probability mass, scaled:
    every value vector is (1, 1) (zero kernel, bias one), the output projection the identity
    from (head, channel) to feature `2 h + channel`."""
    model = kspec.load(_spec())
    shapes = [(DIM, HEADS, HEAD), (HEADS, HEAD), (DIM, KV_HEADS, HEAD), (KV_HEADS, HEAD)]
    # small query/key weights: no probability so small that two key subsets sum alike
    wq, bq, wk, bk = (0.3 * RNG.standard_normal(s).astype(np.float32) for s in shapes)
    wv, bv = np.zeros((DIM, KV_HEADS, HEAD), np.float32), np.ones((KV_HEADS, HEAD), np.float32)
    wo = np.eye(HEADS * HEAD, DIM, dtype=np.float32).reshape(HEADS, HEAD, DIM)
    model.set_weights([wq, bq, wk, bk, wv, bv, wo, np.zeros(DIM, np.float32)])
    return model


def _recover_keep(mass: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """The keep mask `(B, heads, T, S)` whose kept probabilities, over `1 - rate`, give each
    row's mass: the subset of keys that does (unique for random probabilities)."""
    keep = np.zeros(probs.shape, bool)
    subsets = np.array(list(itertools.product([0, 1], repeat=S)), bool)
    for b, h, t in np.ndindex(*probs.shape[:3]):
        sums = subsets @ probs[b, h, t] / (1.0 - RATE)
        match = np.flatnonzero(np.abs(sums - mass[b, t, 2 * h]) < 1e-5)
        assert len(match) == 1, "the output is no kept-probability sum: dropout is elsewhere"
        keep[b, h, t] = subsets[match[0]]
    return keep


def _numpy_gqa(weights: list[np.ndarray], xs: dict, keep: np.ndarray) -> np.ndarray:
    wq, bq, wk, bk, wv, bv, wo, bo = weights
    qh = np.einsum("btd,dnh->btnh", xs["q"], wq) + bq
    kh = np.repeat(np.einsum("bsd,dnh->bsnh", xs["v"], wk) + bk, HEADS // KV_HEADS, axis=2)
    vh = np.repeat(np.einsum("bsd,dnh->bsnh", xs["v"], wv) + bv, HEADS // KV_HEADS, axis=2)
    logits = np.einsum("btnh,bsnh->bnts", qh / np.sqrt(HEAD), kh)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    dropped = np.where(keep, probs / (1.0 - RATE), 0.0)
    return np.einsum("btnh,nhd->btd", np.einsum("bnts,bsnh->btnh", dropped, vh), wo) + bo


def test_training_drops_attention_probabilities_as_a_numpy_reference() -> None:
    xs = _inputs()
    model = _mass_model()
    mass, scores = _run(model, xs, True, key=3)
    inference_scores = _run(model, xs, False)[1]
    np.testing.assert_allclose(scores, inference_scores, rtol=RTOL, atol=1e-6)  # pre-dropout
    keep = _recover_keep(mass, scores)
    assert 0.3 < keep.mean() < 0.7 and not keep.all()
    weights = [RNG.standard_normal(w.shape).astype(np.float32) for w in model.get_weights()]
    model.set_weights(weights)  # the mask depends on the rng and shapes only
    expected = _numpy_gqa(weights, xs, keep)
    np.testing.assert_allclose(_run(model, xs, True, key=3)[0], expected, rtol=RTOL, atol=1e-5)


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_training_is_random_deterministic_per_key_and_unbiased(causal: bool) -> None:
    model = kspec.load(_spec(use_causal_mask=causal))
    model.set_weights(
        [RNG.standard_normal(w.shape).astype(np.float32) for w in model.get_weights()]
    )
    xs = _inputs()
    infer = _run(model, xs, False)[0]
    first, again, other = (_run(model, xs, True, key=k)[0] for k in (1, 1, 2))
    assert not np.allclose(first, infer) and not np.allclose(first, other)
    np.testing.assert_array_equal(first, again)
    seeded = kspec.load(_spec(use_causal_mask=causal, seed=7))
    seeded.set_weights(model.get_weights())
    assert not np.allclose(_run(seeded, xs, True, key=1)[0], first)  # `seed` is folded in
    samples = np.stack([_run(model, xs, True, key=k)[0] for k in range(300)])
    spread = samples.std(axis=0) / np.sqrt(len(samples))
    assert np.all(np.abs(samples.mean(axis=0) - infer) < 5 * spread + 1e-6)
