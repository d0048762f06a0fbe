"""`kspec.layers`: one builder class per registered layer schema, generated from the registry.

The only per-layer knowledge here is Keras' positional-argument order; every other parameter is
keyword-only and checked by the layer's schema class. Keras 1 type names registered as aliases
(`Convolution2D`) build their modern type with a deprecation warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from kspec.errors import KspecDeprecationWarning, SpecError
from kspec.runtime.builder import Input, Layer, caller_location
from kspec.runtime.model_calls import MergeOfModels, ModelLayer
from kspec.runtime.plugins import load_plugins
from kspec.schemas.base import LayerSpec
from kspec.schemas.custom import CUSTOM_LAYERS, plugins_note
from kspec.schemas.layers.composition import Model
from kspec.schemas.layers.merge import Merge
from kspec.schemas.registry import TYPE_ALIASES, TYPE_SYNONYMS, layer_types

_CONV = ("filters", "kernel_size")
_POOL = ("pool_size", "strides", "padding")
POSITIONAL: dict[str, tuple[str | tuple[str, int], ...]] = {
    "Dense": ("units",),
    "Activation": ("activation",),
    "Dropout": ("rate",),
    "SpatialDropout1D": ("rate",),
    "SpatialDropout2D": ("rate",),
    "SpatialDropout3D": ("rate",),
    "GaussianDropout": ("rate",),
    "AlphaDropout": ("rate",),
    "GaussianNoise": ("stddev",),
    "Reshape": ("target_shape",),
    "Permute": ("dims",),
    "RepeatVector": ("n",),
    "Lambda": ("expression",),
    "ActivityRegularization": ("l1", "l2"),
    "Masking": ("mask_value",),
    "Flatten": ("data_format",),
    **{f"Conv{d}D": _CONV for d in (1, 2, 3)},
    **{f"Conv{d}DTranspose": _CONV for d in (1, 2, 3)},
    **{f"SeparableConv{d}D": _CONV for d in (1, 2)},
    **{f"DepthwiseConv{d}D": ("kernel_size",) for d in (1, 2)},
    **{f"LocallyConnected{d}D": _CONV for d in (1, 2)},
    **{f"ConvLSTM{d}D": _CONV for d in (1, 2, 3)},
    **{f"{kind}Pooling{d}D": _POOL for kind in ("Max", "Average") for d in (1, 2, 3)},
    **{f"UpSampling{d}D": ("size",) for d in (1, 2, 3)},
    **{f"ZeroPadding{d}D": ("padding",) for d in (1, 2, 3)},
    **{f"Cropping{d}D": ("cropping",) for d in (1, 2, 3)},
    "Embedding": ("input_dim", "output_dim"),
    "SimpleRNN": ("units",),
    "GRU": ("units",),
    "LSTM": ("units",),
    "Bidirectional": ("layer", "merge_mode"),
    "TimeDistributed": ("layer",),
    "LeakyReLU": ("negative_slope",),
    "ELU": ("alpha",),
    "ReLU": ("max_value", "negative_slope", "threshold"),
    "Softmax": ("axis",),
    "ThresholdedReLU": ("theta",),
    "Concatenate": ("axis",),
    "Dot": ("axes", "normalize"),
    "BatchNormalization": ("axis", "momentum", "epsilon"),
    "LayerNormalization": ("axis", "epsilon"),
    "GroupNormalization": ("groups", "axis", "epsilon"),
    "MultiHeadAttention": (
        "num_heads",
        "key_dim",
        "value_dim",
        "dropout",
        "use_bias",
        "output_shape",
        "attention_axes",
    ),
    "GroupQueryAttention": (
        "head_dim",
        "num_query_heads",
        "num_key_value_heads",
        "dropout",
        "use_bias",
    ),
    "Attention": ("use_scale", "score_mode", "dropout"),
    "AdditiveAttention": ("use_scale", "dropout"),
    "EinsumDense": ("equation", "output_shape", "activation", "bias_axes"),
    "TransformerEncoder": ("intermediate_dim", "num_heads", "dropout", "activation"),
    "TransformerDecoder": ("intermediate_dim", "num_heads", "dropout", "activation"),
    "PositionEmbedding": ("sequence_length", "initializer"),
    "SinePositionEncoding": ("max_wavelength",),
    "RotaryEmbedding": ("max_wavelength", "scaling_factor"),
    "ReversibleEmbedding": ("input_dim", "output_dim", "tie_weights"),
    # Keras 1 type names: (nb_filter, nb_row, nb_col) -> filters, kernel_size
    "Convolution1D": _CONV,
    "Convolution2D": ("filters", ("kernel_size", 2)),
    "Convolution3D": ("filters", ("kernel_size", 3)),
    "Deconvolution2D": ("filters", ("kernel_size", 2)),
    "AtrousConvolution2D": ("filters", ("kernel_size", 2)),
}
"""Keras' positional order of constructor arguments; types not listed are keyword-only."""


def _alias_init(self: Layer, *args: Any, **kwargs: Any) -> None:
    old = type(self).__name__
    location = caller_location()
    message = f"`{old}` is a Keras 1 name; use `kspec.layers.{self.schema.__name__}` instead"
    if location is not None:
        warnings.warn_explicit(message, KspecDeprecationWarning, location.file, location.line)
    else:
        warnings.warn(message, KspecDeprecationWarning, stacklevel=2)
    Layer.__init__(self, *args, **kwargs)


LAYER_CLASSES: dict[str, type[Layer]] = {}

_BASES: dict[type[LayerSpec], type[Layer]] = {Model: ModelLayer, Merge: MergeOfModels}
"""Builder layers with more than parameters: a sub-model's shapes come from its compiled
graph; Keras 1 `Merge(layers=[model_a, model_b])` merges models."""


_CUSTOM_CLASSES: dict[type[LayerSpec], type[Layer]] = {}


def layer_classes() -> dict[str, type[Layer]]:
    """Builder classes for every layer type, by name: built-in (and Keras 1 aliases), and the
    custom types registered now (keyword parameters only)."""
    load_plugins()
    custom = {name: _custom_class(schema) for name, schema in CUSTOM_LAYERS.items()}
    return {**_builtin_classes(), **custom} if custom else _builtin_classes()


def _builder_class(schema: type[LayerSpec]) -> type[Layer]:
    name = schema.__name__
    doc = f"{(schema.__doc__ or '').strip()}\n\nSee `kspec explain {name}`."
    namespace = {"schema": schema, "positional": POSITIONAL.get(name, ()), "__doc__": doc}
    base = _BASES.get(schema, Layer)
    return type(name, (base,), {**namespace, "__module__": "kspec.layers"})


def _custom_class(schema: type[LayerSpec]) -> type[Layer]:
    if schema not in _CUSTOM_CLASSES:
        _CUSTOM_CLASSES[schema] = _builder_class(schema)
    return _CUSTOM_CLASSES[schema]


def _builtin_classes() -> dict[str, type[Layer]]:
    expected = len(layer_types()) + len(TYPE_ALIASES) + len(TYPE_SYNONYMS)
    if LAYER_CLASSES and len(LAYER_CLASSES) == expected:
        return LAYER_CLASSES
    for schema in layer_types():
        LAYER_CLASSES[schema.__name__] = _builder_class(schema)
    for old, new in TYPE_ALIASES.items():
        base = LAYER_CLASSES[new]
        namespace = {
            "positional": POSITIONAL.get(old, base.positional),
            "__init__": _alias_init,
            "__module__": "kspec.layers",
            "__doc__": f"Keras 1 name of `{new}` (deprecated).",
        }
        LAYER_CLASSES[old] = type(old, (base,), namespace)
    for short, name in TYPE_SYNONYMS.items():
        LAYER_CLASSES[short] = LAYER_CLASSES[name]
    return LAYER_CLASSES


def deserialize(config: Mapping[str, Any]) -> Layer:
    """A layer from its config: kspec form `{type: Dense, units: 3}` or Keras form
    `{class_name: Dense, config: {...}}`. Data only: nothing in a config runs code."""
    if "class_name" in config and "type" not in config:
        config = {"type": config["class_name"], **dict(config.get("config") or {})}
    config = dict(config)
    type_name = config.pop("type", None)
    classes = layer_classes()
    if not isinstance(type_name, str) or type_name not in classes:
        raise SpecError(f"unknown layer type {type_name!r} in the config; {plugins_note()}")
    return classes[type_name].from_config({"type": classes[type_name].schema.__name__, **config})


layer_from_config = deserialize


def serialize(layer: Layer) -> dict[str, Any]:
    """The layer's config (`layer.get_config()`), which `deserialize` reads back."""
    return layer.get_config()


def from_spec(spec: LayerSpec) -> Layer:
    """The builder layer of a validated schema object."""
    return layer_classes()[type(spec).__name__].from_spec(spec)


__all__ = [
    "Input",
    "Layer",
    "from_spec",
    "deserialize",
    "layer_classes",
    "layer_from_config",
    "serialize",
]
