"""The layer catalogue: every built-in layer type by family, and the other names Keras gives
some of them, in one explicit index (a test checks it against the family modules).

A family's module is imported, and its schemas built, the first time a spec names one of its
types: `kspec validate` of a Dense-and-Conv spec never builds the recurrent or attention
schemas. `layer_types()` imports the whole catalogue, for what needs every type (JSON Schema,
the builder's classes, tests).
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from kspec.schemas.base import LayerSpec, legacy_renames
from kspec.schemas.custom import CUSTOM_LAYERS

FAMILIES: dict[str, tuple[str, ...]] = {
    "core": (
        "Dense", "Activation", "Dropout", "Flatten", "Reshape", "Permute", "RepeatVector",
        "Lambda", "ActivityRegularization", "Masking", "Identity",
    ),
    "convolution": (
        "Conv1D", "Conv2D", "Conv3D", "SeparableConv1D", "SeparableConv2D", "DepthwiseConv1D",
        "DepthwiseConv2D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
    ),
    "pooling": (
        "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
        "AveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
        "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    ),
    "reshaping": (
        "Cropping1D", "Cropping2D", "Cropping3D", "ZeroPadding1D", "ZeroPadding2D",
        "ZeroPadding3D", "UpSampling1D", "UpSampling2D", "UpSampling3D",
    ),
    "locally_connected": ("LocallyConnected1D", "LocallyConnected2D"),
    "merge": (
        "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
        "Merge",
    ),
    "activations": ("ReLU", "LeakyReLU", "PReLU", "ELU", "ThresholdedReLU", "Softmax"),
    "normalization": (
        "BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization",
        "RMSNormalization",
    ),
    "noise": (
        "GaussianNoise", "GaussianDropout", "AlphaDropout", "SpatialDropout1D",
        "SpatialDropout2D", "SpatialDropout3D",
    ),
    "embedding": ("Embedding",),
    "recurrent": ("SimpleRNN", "LSTM", "GRU", "ConvLSTM2D"),
    "wrappers": ("TimeDistributed", "Bidirectional"),
    "composition": ("Model",),
    "applications": ("LayerScale", "CustomScaleLayer"),
    "attention": (
        "MultiHeadAttention", "GroupQueryAttention", "Attention", "AdditiveAttention",
        "EinsumDense",
    ),
    "transformer": (
        "TransformerEncoder", "TransformerDecoder", "PositionEmbedding", "SinePositionEncoding",
        "RotaryEmbedding", "ReversibleEmbedding", "ClassToken",
    ),
    "legacy": ("MaxoutDense", "Highway"),
    "preprocessing": ("Rescaling", "Normalization", "Resizing", "CenterCrop"),
}  # fmt: skip
"""Each family module (`schemas/layers/<family>.py`, lowered by `compiler/layers/<family>.py`)
and the layer types it defines, in catalogue order (the JSON Schema lists them so)."""

FAMILY_OF: dict[str, str] = {name: family for family, names in FAMILIES.items() for name in names}
"""The family of every built-in layer type."""

TYPE_ALIASES: dict[str, str] = {
    "AtrousConvolution1D": "Conv1D",
    "AtrousConvolution2D": "Conv2D",
    "Deconvolution2D": "Conv2DTranspose",
    "Deconvolution3D": "Conv3DTranspose",
}
"""Keras 1 layer type names accepted for their modern type, with a deprecation warning."""

TYPE_SYNONYMS: dict[str, str] = {
    **{f"Convolution{r}D": f"Conv{r}D" for r in (1, 2, 3)},
    **{f"SeparableConvolution{r}D": f"SeparableConv{r}D" for r in (1, 2)},
    **{f"Convolution{r}DTranspose": f"Conv{r}DTranspose" for r in (1, 2, 3)},
    **{f"MaxPool{r}D": f"MaxPooling{r}D" for r in (1, 2, 3)},
    **{f"AvgPool{r}D": f"AveragePooling{r}D" for r in (1, 2, 3)},
    **{f"GlobalMaxPool{r}D": f"GlobalMaxPooling{r}D" for r in (1, 2, 3)},
    **{f"GlobalAvgPool{r}D": f"GlobalAveragePooling{r}D" for r in (1, 2, 3)},
    "GroupedQueryAttention": "GroupQueryAttention",
}
"""Other current Keras names of a type (`MaxPool2D` for `MaxPooling2D`,
`keras.layers.Convolution2D`), accepted silently."""


def family_module_name(family: str) -> str:
    """The module holding a family's schemas."""
    return f"kspec.schemas.layers.{family}"


def layer_class(type_name: object) -> type[LayerSpec] | None:
    """The schema of a layer type: built-in (its family imported now if it was not yet) or
    registered custom; None if unknown (or not a name at all)."""
    if not isinstance(type_name, str):
        return None
    family = FAMILY_OF.get(type_name)
    if family is None:
        return CUSTOM_LAYERS.get(type_name)
    cls: type[LayerSpec] = getattr(importlib.import_module(family_module_name(family)), type_name)
    return cls


@cache
def layer_types() -> tuple[type[LayerSpec], ...]:
    """Every built-in layer schema, in catalogue order (imports every family); the compiler
    holds one lowering for each (a test checks). Custom types registered at run time live in
    `custom.CUSTOM_LAYERS`; `layer_class` finds both."""
    return tuple(cls for name in FAMILY_OF if (cls := layer_class(name)) is not None)


def known_type_names() -> list[str]:
    """Every name a spec may use as `type` now (for "did you mean" suggestions)."""
    return [*FAMILY_OF, *CUSTOM_LAYERS, *TYPE_ALIASES, *TYPE_SYNONYMS]


def keras1_renames(type_name: str, data: dict[str, Any]) -> tuple[str, dict[str, Any], list[str]]:
    """A layer's type and parameters with Keras 1 names replaced by their modern ones, and one
    line per replacement, for the Keras importer's report (which says them once, instead of a
    deprecation warning each). Raises `ValueError` for a parameter given under both names."""
    notes = []
    if type_name in TYPE_ALIASES:
        notes.append(f"Keras 1 type `{type_name}` -> `{TYPE_ALIASES[type_name]}`")
        type_name = TYPE_ALIASES[type_name]
    cls = layer_class(TYPE_SYNONYMS.get(type_name, type_name))
    if cls is None:
        return type_name, data, notes
    renamed, renames = legacy_renames(cls.keras1_aliases, data, cls.keras1_merges)
    return type_name, renamed, notes + [rename.report() for rename in renames]


def call_arguments_of(type_name: str) -> tuple[str, ...]:
    """The named call arguments of a layer type (`LayerSpec.call_arguments`); () for a type
    that takes a plain list of inputs, or an unknown one."""
    cls = layer_class(TYPE_SYNONYMS.get(type_name, type_name))
    return cls.call_arguments if cls is not None else ()
