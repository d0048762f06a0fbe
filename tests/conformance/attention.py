"""Conformance cases of the attention layers and EinsumDense (inputs in Keras' positional
order: query, value, key)."""

from __future__ import annotations

from tests.conformance.cases import Case, Invalid, KerasReference

CASES: dict[str, list[Case]] = {
    "MultiHeadAttention": [
        Case({"num_heads": 2, "key_dim": 3}, [[4, 5], [6, 5]]),
        Case(
            {"num_heads": 2, "key_dim": 3, "value_dim": 4, "output_shape": 7},
            [[4, 5], [6, 3], [6, 2]],
        ),
        Case({"num_heads": 2, "key_dim": 2, "attention_axes": [1, 2]}, [[3, 4, 5], [3, 4, 5]]),
        Case(
            {"num_heads": 1, "key_dim": 2, "return_attention_scores": True}, [[None, 5], [None, 5]]
        ),
        Case(
            {"num_heads": 2, "key_dim": 2, "dropout": 0.5, "use_causal_mask": True},
            [[4, 3], [4, 3]],
            training=True,
            id="dropout-causal",
        ),
        Case(
            {"num_heads": 2, "key_dim": 2, "value_dim": 3, "use_gate": True, "sliding_window": 2},
            [[5, 4], [6, 3]],
            id="gate-window",
        ),
    ],
    "GroupQueryAttention": [
        Case({"head_dim": 2, "num_query_heads": 4, "num_key_value_heads": 2}, [[4, 6], [5, 6]]),
        Case(
            {
                "head_dim": 3,
                "num_query_heads": 2,
                "num_key_value_heads": 1,
                "return_attention_scores": True,
            },
            [[4, 6], [4, 6], [4, 3]],
        ),
        Case(
            {
                "head_dim": 2,
                "num_query_heads": 2,
                "num_key_value_heads": 1,
                "use_gate": True,
                "sliding_window": 3,
                "flash_attention": False,
                "use_causal_mask": True,
            },
            [[5, 4], [5, 4]],
            id="gate-window-einsum",
        ),
    ],
    "Attention": [
        Case({}, [[4, 3], [5, 3]]),
        Case(
            {"use_scale": True, "score_mode": "concat", "return_attention_scores": True},
            [[4, 3], [5, 2], [5, 3]],
        ),
    ],
    "AdditiveAttention": [
        Case({}, [[4, 3], [5, 3]]),
        Case({"use_scale": False, "use_causal_mask": True}, [[4, 3], [4, 3]]),
    ],
    "EinsumDense": [
        Case({"equation": "ab,bc->ac", "output_shape": 4, "bias_axes": "c"}, [[3]]),
        Case(
            {"equation": "abc,cde->abde", "output_shape": [None, 2, 3], "bias_axes": "de"}, [[4, 5]]
        ),
        Case({"equation": "...b,bc->...c", "output_shape": [6]}, [[2, 4, 3]]),
    ],
}

INVALID: dict[str, list[Invalid]] = {
    "MultiHeadAttention": [
        Invalid(
            {"num_heads": 2, "key_dim": 2},
            [[4, 3], [5, 3], [6, 3]],
            "`value` and `key` need the query's rank and equal dimensions",
            id="key-length",
        ),
        Invalid(
            {"num_heads": 2, "key_dim": 2, "attention_axes": 3},
            [[4, 3], [4, 3]],
            "attention_axes must be distinct axes between batch and features",
            id="axes",
        ),
        Invalid(
            {"num_heads": 2, "key_dim": 2},
            [[4, 3], [5, 3], [5, 3], [4, 6]],
            "MultiHeadAttention: `attention_mask` of shape (None, 4, 6) does not broadcast to "
            "the attention scores",
            id="mask-shape",
        ),
        Invalid(
            {"num_heads": 2, "key_dim": 2},
            [[4, 3], [5, None]],
            "MultiHeadAttention needs a known last dimension of `value`. "
            "Received: value_shape=(None, 5, None)",
            id="value-features",
        ),
    ],
    "GroupQueryAttention": [
        Invalid(
            {"head_dim": 2, "num_query_heads": 2, "num_key_value_heads": 1},
            [[4, 3], [4, 5]],
            "the last dimension of `query` and `value` must be equal",
            id="dims",
        ),
    ],
    "Attention": [
        Invalid({}, [[4, 3], [5, 2]], "`query` and `key` need the same last dimension", id="dims"),
    ],
    "AdditiveAttention": [
        Invalid({}, [[4, 3], [5, 3], [6, 3]], "and `key` the value's length", id="length"),
    ],
    "EinsumDense": [
        Invalid(
            {"equation": "ab,bc->ac", "output_shape": 4},
            [[3, 2]],
            "expects an input of rank 2",
            id="rank",
        ),
    ],
}

REFERENCES = [
    KerasReference("MultiHeadAttention", CASES["MultiHeadAttention"][0], positional=True),
    KerasReference("Attention", CASES["Attention"][0]),
    KerasReference("EinsumDense", CASES["EinsumDense"][1]),
]
