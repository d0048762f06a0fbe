"""Keras 3.15's newer MultiHeadAttention / GroupQueryAttention options against Keras:
`use_gate` (weights `gate/*` between key and value, as `get_weights` orders them),
`sliding_window` (the band mask, alone and AND-ed with causal and padding masks, on the fused
and einsum paths) and `flash_attention` (a lowering choice: the path it forces is checked by
counting `jax.nn.dot_product_attention` calls, and Keras' refusals are located errors)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import keras
import numpy as np
import pytest

import kspec
from kspec.errors import SpecError
from tests.parity.harness import assert_random_parity, keras_side

L = keras.layers
RNG = np.random.default_rng(3)


def _floats(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def _keras_layer(kind: str, heads: tuple[int, int], dims: tuple[int, int], **kw: Any) -> Any:
    """MHA(num_heads, key_dim, value_dim) or GQA(head_dim, query heads, key/value heads)."""
    kw = {k: v for k, v in kw.items() if k != "flash_attention"}  # a kspec lowering choice
    if kind == "MultiHeadAttention":
        return L.MultiHeadAttention(heads[0], dims[0], value_dim=dims[1], **kw)
    return L.GroupQueryAttention(dims[0], heads[0], heads[1], **kw)


def _kspec_layer(kind: str, heads: tuple[int, int], dims: tuple[int, int], **kw: Any) -> dict:
    if kind == "MultiHeadAttention":
        sizes = {"num_heads": heads[0], "key_dim": dims[0], "value_dim": dims[1]}
    else:
        sizes = {"head_dim": dims[0], "num_query_heads": heads[0], "num_key_value_heads": heads[1]}
    return {"type": kind, **sizes, **kw}


KINDS = [
    ("MultiHeadAttention", (2, 2), (3, 3)),
    ("GroupQueryAttention", (4, 2), (3, 3)),
]
OPTIONS = [
    pytest.param({"use_gate": True}, {}, id="gate"),
    pytest.param({"use_gate": True, "use_bias": False}, {}, id="gate-no-bias"),
    pytest.param({"sliding_window": 2}, {}, id="window"),
    pytest.param({"sliding_window": 3}, {"use_causal_mask": True}, id="window-causal"),
    pytest.param(
        {"sliding_window": 2, "use_gate": True},
        {"return_attention_scores": True},
        id="window-gate-scores",
    ),
    pytest.param(
        {"flash_attention": False, "sliding_window": 2},
        {"use_causal_mask": True},
        id="einsum-window-causal",
    ),
    pytest.param({"flash_attention": True, "sliding_window": 1}, {}, id="fused-window-1"),
]


@pytest.mark.parametrize(("kind", "heads", "dims"), KINDS)
@pytest.mark.parametrize(("options", "call"), OPTIONS)
@pytest.mark.parametrize("padded", [False, True], ids=["dense", "padded"])
def test_options_match_keras(
    kind: str, heads: tuple, dims: tuple, options: dict, call: dict, padded: bool
) -> None:
    """Self-attention over Embedding(mask_zero) outputs, so query and value masks AND with
    the band and causal masks; pooled with the mask as Keras pools (padded rows left out)."""
    ids = RNG.integers(1, 9, (3, 6)).astype(np.int32)
    if padded:
        ids[0, 4:], ids[2, 2:] = 0, 0
    scores = call.get("return_attention_scores", False)
    layer = _kspec_layer(kind, heads, dims, **options, **call)
    spec = {
        "kspec": 1,
        "inputs": {"ids": {"shape": [6], "dtype": "int32"}},
        "layers": [
            {"type": "Embedding", "input_dim": 9, "output_dim": 6, "mask_zero": True},
            {**layer, "name": "att", "inputs": ["embedding", "embedding"]},
            *([] if scores else [{"type": "GlobalAveragePooling1D"}]),
        ],
        **({"outputs": ["att:0", "att:1"]} if scores else {}),
    }
    with keras_side():
        x = keras.Input((6,), dtype="int32")
        e = L.Embedding(9, 6, mask_zero=True)(x)
        out = _keras_layer(kind, heads, dims, **options)(e, e, **call)
        keras_model = keras.Model(x, list(out) if scores else L.GlobalAveragePooling1D()(out))
    model = assert_random_parity(spec, keras_model, [ids])
    gated = "gate/kernel" in model.get_layer("att").weight_names()
    assert gated == options.get("use_gate", False)


CROSS = [
    # Keras 3.15's fused path rejects value_dim != key_dim: returned scores take the einsum one
    pytest.param("MultiHeadAttention", (2, 2), (3, 4), 4, {"return_attention_scores": True},
                 id="mha-value-dim"),
    pytest.param("MultiHeadAttention", (3, 3), (2, 2), 4, {"sliding_window": 2}, id="mha-window"),
    pytest.param("GroupQueryAttention", (4, 1), (2, 2), 6, {"sliding_window": 3}, id="gqa-window"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "heads", "dims", "value_size", "options"), CROSS)
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_gated_cross_attention_matches_keras_in_weight_order(
    kind: str, heads: tuple, dims: tuple, value_size: int, options: dict, causal: bool
) -> None:
    """`gate` sits between `key` and `value` in `get_weights` (Keras builds it there), with
    the value head size; query and value of different lengths (5 and 7, so the band is not
    square) and, for MultiHeadAttention, different sizes show which input each projection
    reads."""
    with keras_side():
        q, v = keras.Input((5, 6)), keras.Input((7, value_size))
        scores = options.get("return_attention_scores", False)
        built = {k: v for k, v in options.items() if k != "return_attention_scores"}
        layer = _keras_layer(kind, heads, dims, use_gate=True, **built)
        out = layer(q, v, use_causal_mask=causal, return_attention_scores=scores)
        keras_model = keras.Model([q, v], list(out) if scores else out)
    node = {**_kspec_layer(kind, heads, dims, use_gate=True, **options), "name": "att"}
    spec = {
        "kspec": 1,
        "inputs": {"q": [5, 6], "v": [7, value_size]},
        "layers": [{**node, "use_causal_mask": causal, "inputs": ["q", "v"]}],
        "outputs": ["att:0", "att:1"] if scores else ["att"],
    }
    inputs = [_floats(2, 5, 6), _floats(2, 7, value_size)]
    model = assert_random_parity(spec, keras_model, inputs)
    ours = model.get_layer("att").weight_names()
    assert ours == [w.path.split("/", 1)[1] for w in layer.weights]


def _count_fused(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = jax.nn.dot_product_attention

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(jax.nn, "dot_product_attention", spy)
    return calls


@pytest.mark.parametrize("kind", ["MultiHeadAttention", "GroupQueryAttention"])
@pytest.mark.parametrize(("flash", "fused"), [(None, True), (True, True), (False, False)])
def test_flash_attention_picks_the_lowering(
    monkeypatch: pytest.MonkeyPatch, kind: str, flash: bool | None, fused: bool
) -> None:
    calls = _count_fused(monkeypatch)
    heads, dims = {k: (h, d) for k, h, d in KINDS}[kind]
    layer = _kspec_layer(kind, heads, dims, flash_attention=flash, use_causal_mask=True)
    spec = {"kspec": 1, "inputs": {"x": [5, 6]}, "layers": [{**layer, "inputs": ["x", "x"]}]}
    model = kspec.load(spec)
    model.init(0)
    model.predict(_floats(2, 5, 6))
    assert bool(calls) == fused


def _located(tmp_path: Path, layer: str, shape: str = "[5, 6]") -> str:
    path = tmp_path / "model.yaml"
    node = layer[:-1] + ", inputs: [x, x]}"
    path.write_text(f"kspec: 1\ninputs: {{x: {shape}}}\nlayers:\n  - {node}\n")
    with pytest.raises(SpecError) as info:
        kspec.load(path)
    return str(info.value)


MHA = "{type: MultiHeadAttention, name: att, num_heads: 2, key_dim: 3"
GQA = (
    "{type: GroupQueryAttention, name: att, head_dim: 2, num_query_heads: 2, num_key_value_heads: 1"
)
REFUSALS = [
    pytest.param(MHA + ", flash_attention: true, dropout: 0.1}", "[5, 6]",
                 "Dropout is not supported when flash attention is enabled. Please set dropout "
                 "to 0.0 to use flash attention.", id="mha-dropout"),
    pytest.param(GQA + ", flash_attention: true, return_attention_scores: true}", "[5, 6]",
                 "Returning attention scores is not supported when flash attention is enabled. "
                 "Please disable flash attention to access attention scores.", id="gqa-scores"),
    pytest.param(MHA + ", flash_attention: true, value_dim: 4}", "[5, 6]",
                 "flash_attention=True needs the fused kernel: (batch, time, features) inputs "
                 "attended over time, value_dim equal to key_dim. Received: query_shape="
                 "(None, 5, 6), attention_axes=[1], key_dim=3, value_dim=4", id="mha-value-dim"),
    pytest.param(MHA + ", flash_attention: true, attention_axes: [1, 2]}", "[3, 4, 6]",
                 "flash_attention=True needs the fused kernel", id="mha-2d"),
    pytest.param(MHA + ", sliding_window: 0}", "[5, 6]",
                 "`sliding_window` must be `None` or a positive integer. Received: "
                 "sliding_window=0", id="window-zero"),
    pytest.param(MHA + ", sliding_window: 2, attention_axes: [1, 2]}", "[3, 4, 6]",
                 "sliding_window needs sequences (batch, time, features) attended over time. "
                 "Received: query_shape=(None, 3, 4, 6)", id="window-2d"),
]  # fmt: skip


@pytest.mark.parametrize(("layer", "shape", "message"), REFUSALS)
def test_refusals_are_located(tmp_path: Path, layer: str, shape: str, message: str) -> None:
    text = _located(tmp_path, layer, shape)
    assert message in text
    assert "model.yaml:4:" in text


@pytest.mark.parametrize("kind", ["MultiHeadAttention", "GroupQueryAttention"])
@pytest.mark.parametrize("scores", [False, True], ids=["fused", "einsum-scores"])
def test_window_with_attention_mask_padding_and_causal(kind: str, scores: bool) -> None:
    """Every mask source at once, as Keras ANDs them: padding (query and value), causal,
    the band and an `attention_mask` input."""
    heads, dims = {k: (h, d) for k, h, d in KINDS}[kind]
    ids = RNG.integers(1, 7, (3, 6)).astype(np.int32)
    ids[1, 4:] = 0
    allowed = RNG.integers(0, 2, (3, 6, 6)).astype(np.int32)
    allowed[:, np.arange(6), np.arange(6)] = 1  # each query keeps itself
    layer = _kspec_layer(kind, heads, dims, sliding_window=3, use_causal_mask=True,
                         return_attention_scores=scores)  # fmt: skip
    spec = {
        "kspec": 1,
        "inputs": {
            "ids": {"shape": [6], "dtype": "int32"},
            "m": {"shape": [6, 6], "dtype": "int32"},
        },
        "layers": [
            {"type": "Embedding", "input_dim": 7, "output_dim": 6, "mask_zero": True,
             "inputs": ["ids"]},
            {**layer, "name": "att",
             "inputs": {"query": "embedding", "value": "embedding", "attention_mask": "m"}},
        ],
        "outputs": ["att:0", "att:1"] if scores else ["att"],
    }  # fmt: skip
    with keras_side():
        x, m = keras.Input((6,), dtype="int32"), keras.Input((6, 6), dtype="int32")
        e = L.Embedding(7, 6, mask_zero=True)(x)
        out = _keras_layer(kind, heads, dims, sliding_window=3)(
            e, e, attention_mask=m, use_causal_mask=True, return_attention_scores=scores
        )
        keras_model = keras.Model([x, m], list(out) if scores else out)
    assert_random_parity(spec, keras_model, [ids, allowed])
