"""Every Keras 1 parameter name, at a value different from its field's default: it must land
on the right modern field, with the converted value, and warn with the exact text.

The table is checked against the schemas' own alias maps (`keras1_aliases`, `keras1_merges`),
so a new alias without a row here fails `test_every_alias_has_a_row`. The numeric side (an
alias spec against Keras 3 built with the modern name) is `tests/parity/test_keras1_aliases.py`.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

import kspec
from kspec.errors import KspecDeprecationWarning
from kspec.schemas.fields import snake_case
from kspec.schemas.registry import layer_types

# What each layer type needs besides the parameter under test (input shape, parameters).
BASE: dict[str, tuple[list[int], dict[str, Any]]] = {
    "Dense": ([4], {"units": 3}),
    "Dropout": ([4], {"rate": 0.5}),
    "Embedding": ([4], {"input_dim": 10, "output_dim": 3}),
    "BatchNormalization": ([4], {}),
    "LeakyReLU": ([4], {}),
    "PReLU": ([4], {}),
    "GaussianNoise": ([4], {"stddev": 0.1}),
    "GaussianDropout": ([4], {"rate": 0.5}),
    "SpatialDropout1D": ([5, 4], {"rate": 0.5}),
    "SpatialDropout2D": ([5, 5, 4], {"rate": 0.5}),
    "SpatialDropout3D": ([5, 5, 5, 4], {"rate": 0.5}),
    "UpSampling1D": ([5, 4], {}),
    "MaxPooling1D": ([8, 4], {}),
    "LocallyConnected1D": ([8, 4], {"filters": 2, "kernel_size": 3}),
    "LocallyConnected2D": ([8, 8, 4], {"filters": 2, "kernel_size": 3}),
    **{t: ([6, 4], {"units": 3}) for t in ("SimpleRNN", "LSTM", "GRU")},
    "MaxoutDense": ([4], {"units": 3}),
    "Highway": ([4], {}),
}
for rank in (1, 2, 3):
    spatial = [9] * rank + [4]
    for family in ("Conv", "SeparableConv", "DepthwiseConv", "ConvTranspose"):
        if family in ("SeparableConv", "DepthwiseConv") and rank == 3:
            continue
        name = f"Conv{rank}DTranspose" if family == "ConvTranspose" else f"{family}{rank}D"
        params: dict[str, Any] = {"kernel_size": 3}
        if family != "DepthwiseConv":
            params["filters"] = 2
        BASE[name] = (spatial, params)
    BASE[f"AveragePooling{rank}D"] = (spatial, {"pool_size": 2})
    if rank > 1:
        BASE[f"MaxPooling{rank}D"] = (spatial, {})
    if rank > 1:
        for kind in ("Cropping", "ZeroPadding", "UpSampling"):
            BASE[f"{kind}{rank}D"] = (spatial, {})

# alias -> (the modern field it names, a Keras 1 value, the value that field then holds).
VALUES: dict[str, tuple[str, Any, Any]] = {
    "output_dim": ("units", 7, 7),
    "init": ("kernel_initializer", "ones", "ones"),
    "inner_init": ("recurrent_initializer", "ones", "ones"),
    "beta_init": ("beta_initializer", "ones", "ones"),
    "gamma_init": ("gamma_initializer", "zeros", "zeros"),
    "W_regularizer": ("kernel_regularizer", {"l2": 0.1}, {"l2": 0.1}),
    "b_regularizer": ("bias_regularizer", {"l1": 0.2}, {"l1": 0.2}),
    "U_regularizer": ("recurrent_regularizer", {"l2": 0.3}, {"l2": 0.3}),
    "W_constraint": ("kernel_constraint", "non_neg", "non_neg"),
    "b_constraint": ("bias_constraint", "unit_norm", "unit_norm"),
    "bias": ("use_bias", False, False),
    "p": ("rate", 0.3, 0.3),
    "nb_filter": ("filters", 5, 5),
    "filter_length": ("kernel_size", 2, 2),
    "subsample": ("strides", [2, 2], [2, 2]),
    "subsample_length": ("strides", 2, 2),
    "border_mode": ("padding", "same", "same"),
    "atrous_rate": ("dilation_rate", 2, 2),
    "dim_ordering": ("data_format", "th", "channels_first"),
    "pool_length": ("pool_size", 3, 3),
    "stride": ("strides", 3, 3),
    "length": ("size", 3, 3),
    "alpha": ("negative_slope", 0.2, 0.2),
    "sigma": ("stddev", 0.4, 0.4),
    "dropout_W": ("dropout", 0.2, 0.2),
    "dropout_U": ("recurrent_dropout", 0.3, 0.3),
    "inner_activation": ("recurrent_activation", "tanh", "tanh"),
    "consume_less": ("implementation", "cpu", 0),
    "forget_bias_init": ("unit_forget_bias", "zero", False),
}
# The layers where a Keras 1 name meant a differently named modern weight.
TARGETS: dict[tuple[str, str], str] = {
    **{
        (t, "init"): "depthwise_initializer"
        for t in ("SeparableConv1D", "SeparableConv2D", "DepthwiseConv1D", "DepthwiseConv2D")
    },
    ("Embedding", "init"): "embeddings_initializer",
    ("Embedding", "W_regularizer"): "embeddings_regularizer",
    ("Embedding", "W_constraint"): "embeddings_constraint",
    ("PReLU", "init"): "alpha_initializer",
}
# Values that differ per layer type: (Keras 1 value, the modern field's value).
OVERRIDES: dict[tuple[str, str], tuple[Any, Any]] = {
    **{
        (t, "subsample"): ([2], [2])
        for t in ("Conv1D", "SeparableConv1D", "DepthwiseConv1D", "Conv1DTranspose")
    },
    **{(t, "subsample"): ([2, 2, 2], [2, 2, 2]) for t in ("Conv3D", "Conv3DTranspose")},
    ("LocallyConnected1D", "subsample_length"): (2, 2),
    # Keras' locally connected layers only ever had valid padding: the default is the only value
    **{(f"LocallyConnected{r}D", "border_mode"): ("valid", "valid") for r in (1, 2)},
}
# Keras 1 keys that Keras 3 dropped: accepted only at the value meaning today's behaviour.
DROPPED = {"output_shape": [9, 9, 2], "mode": 0}


def _rows() -> list[tuple[str, str, str | None]]:
    rows = []
    for cls in sorted(layer_types(), key=lambda c: c.__name__):
        type_name = cls.__name__
        for old, alias in cls.keras1_aliases.items():
            rows.append((type_name, old, alias if isinstance(alias, str) else alias[0]))
    return rows


def _load(type_name: str, params: dict[str, Any]) -> tuple[Any, list[str]]:
    shape, _ = BASE[type_name]
    spec = {"kspec": 1, "inputs": {"x": shape}, "layers": [{"type": type_name, **params}]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layer = kspec.validate(spec).layers[0]
    return layer, [str(w.message) for w in caught if w.category is KspecDeprecationWarning]


def test_every_alias_has_a_row() -> None:
    """Each alias of each schema is in the table, naming the field the table expects."""
    missing = [
        (t, old)
        for t, old, new in _rows()
        if t not in BASE
        or (new is not None and old not in VALUES)
        or (new is None and old not in DROPPED)
    ]
    assert not missing, f"Keras 1 aliases without a test value: {missing}"


def test_every_alias_names_the_expected_field() -> None:
    wrong = [
        (t, old, new)
        for t, old, new in _rows()
        if new is not None and new != TARGETS.get((t, old), VALUES[old][0])
    ]
    assert not wrong, f"Keras 1 aliases mapped to an unexpected field: {wrong}"


@pytest.mark.parametrize(
    ("type_name", "old", "new"), _rows(), ids=[f"{t}.{o}" for t, o, _ in _rows()]
)
def test_alias_lands_on_its_field(type_name: str, old: str, new: str | None) -> None:
    base = dict(BASE[type_name][1])
    if new is None:  # dropped by Keras 3: accepted with a warning, nothing set
        layer, messages = _load(type_name, {**base, old: DROPPED[old]})
        assert messages == [
            f"node '{snake_case(type_name)}': {type_name}: `{old}={DROPPED[old]!r}` is a Keras 1 "
            "parameter that Keras 3 dropped; remove it"
        ]
        return
    given, landed = OVERRIDES.get((type_name, old), VALUES[old][1:])
    base.pop(new, None)
    layer, messages = _load(type_name, {**base, old: given})
    value = layer.model_dump(mode="json")[new]
    assert value == landed
    if landed != "valid":
        assert value != type(layer).model_fields[new].default, "test value equals the default"
    node = snake_case(type_name)
    assert messages == [
        f"node '{node}': {type_name}: `{old}` is a Keras 1 name; use `{new}` instead"
    ]
