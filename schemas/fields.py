"""Field types shared by layer schemas: activations, initializers, regularizers, constraints.

Initializers, regularizers and constraints are "named objects": users write a Keras name
(`glorot_uniform`, `l2`), a parametrised form (`{RandomNormal: {stddev: 0.02, seed: 1}}`), or Keras'
serialized form (`{class_name: L1L2, config: {l1: 0.01}}`). All normalise to one tagged model and
serialise back to the shortest form that says the same thing.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PlainSerializer, PositiveFloat, PositiveInt

from kspec.schemas.base import Alias, SpecModel
from kspec.spec.names import snake_case as snake_case

ActivationName = Literal[
    "linear", "relu", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu", "glu", "silu",
    "swish", "mish", "sigmoid", "hard_sigmoid", "sparse_sigmoid", "log_sigmoid", "hard_silu",
    "hard_swish", "tanh", "hard_tanh", "tanh_shrink", "hard_shrink", "soft_shrink", "softmax",
    "log_softmax", "sparsemax", "softplus", "softsign", "squareplus", "sparse_plus",
    "exponential",
]  # fmt: skip
"""Every Keras 3 activation that takes no required argument (Keras 3 names and aliases)."""

LegacyActivationName = Literal["legacy_hard_sigmoid"]
"""Activations of Keras 1/2 whose formula Keras 3 changed: `legacy_hard_sigmoid` is
`clip(0.2 x + 0.5, 0, 1)`, the `hard_sigmoid` of Keras 1/2 and tf.keras <= 2.15 (the importer
writes it for their `hard_sigmoid`)."""

ActivationFunction = Annotated[
    Literal[ActivationName, LegacyActivationName] | None,  # one literal: one error message
    Field(description="Activation applied to the output; `null` or `linear` for none."),
]

DataFormat = Literal["channels_last", "channels_first"]
"""Tensor layout: `channels_last` (batch, *spatial, channels) or `channels_first` (batch,
channels, *spatial). Declared once; layers and the model-level default use it."""

DataFormatField = Annotated[
    DataFormat | None,
    Field(
        description="Layout of input and output: `channels_last` (batch, *spatial, channels) "
        "or `channels_first` (batch, channels, *spatial); default: the model's `data_format`.",
    ),
]
"""A layer's `data_format`: None in what users write means the model's; the canonical spec
(`schemas/canonicalize.py`) always holds a concrete one."""

DIM_ORDERING: Alias = ("data_format", {"tf": "channels_last", "th": "channels_first"}.get)
"""Keras 1 `dim_ordering` (`tf` / `th`, the backend's layout) as the `data_format` it means."""

DType = Literal[
    "float32", "float16", "bfloat16", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"
]


def _named_object(
    classes: list[type[SpecModel]],
    aliases: dict[str, str],
    what: str,
    example: str,
    short_names: dict[str, str] | None = None,
) -> Any:
    """An annotated union of tagged models that accepts Keras names and parametrised forms.

    `short_names` overrides the snake_case name a class serialises to (`L1L2` -> `l1_l2`).
    """
    by_name = {c.__name__: c.__name__ for c in classes}
    by_name |= {snake_case(c.__name__): c.__name__ for c in classes}
    by_name |= aliases

    def normalise(value: Any) -> Any:
        if isinstance(value, str):
            return {"type": _resolve(value)}
        if isinstance(value, dict) and set(value) == {"class_name", "config"}:
            return {"type": _resolve(value["class_name"]), **(value["config"] or {})}
        if isinstance(value, dict) and len(value) == 1 and "type" not in value:
            ((name, params),) = value.items()
            if isinstance(params, (int, float)) and not isinstance(params, bool):
                params = _single_param(_resolve(name), params)
            if params is None or isinstance(params, dict):
                return {"type": _resolve(name), **(params or {})}
        if isinstance(value, dict) and isinstance(value.get("type"), str):
            return {**value, "type": _resolve(value["type"])}
        return value

    def _resolve(name: Any) -> Any:
        if isinstance(name, str) and name in by_name:
            return by_name[name]
        close = difflib.get_close_matches(str(name), list(by_name), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"unknown {what} {name!r}{hint}; expected one of: "
            f"{', '.join(sorted(aliases_and_names))}. Parametrised form: {example}"
        )

    def _single_param(class_name: str, number: float) -> dict[str, Any]:
        fields = [f for f in by_class[class_name].model_fields if f not in ("type", "seed")]
        if len(fields) == 1:
            return {fields[0]: number}
        raise ValueError(f"{class_name} takes named parameters: {{{class_name}: {{...}}}}")

    def compact(model: SpecModel) -> Any:
        params = model.model_dump(exclude={"type"}, exclude_defaults=True)
        class_name: str = model.type  # type: ignore[attr-defined]
        short = (short_names or {}).get(class_name, snake_case(class_name))
        if not params:
            return short
        if len(params) == 1 and len(by_class[class_name].model_fields) == 2:
            return {short: next(iter(params.values()))}
        return {short: params}

    by_class = {c.__name__: c for c in classes}
    aliases_and_names = sorted({snake_case(c.__name__) for c in classes} | set(aliases))
    union = classes[0]
    for cls in classes[1:]:
        union = union | cls  # type: ignore[assignment]
    names = Literal[tuple(sorted(by_name))]  # type: ignore[valid-type]
    return Annotated[
        union,
        Field(discriminator="type"),
        BeforeValidator(normalise, json_schema_input_type=names | dict[str, Any]),
        PlainSerializer(compact, return_type=Any),
    ]


class _Seeded(SpecModel):
    seed: int | None = Field(None, description="Seed folded into the init key; null: none.")


class Zeros(SpecModel):
    type: Literal["Zeros"] = "Zeros"


class Ones(SpecModel):
    type: Literal["Ones"] = "Ones"


class Constant(SpecModel):
    type: Literal["Constant"] = "Constant"
    value: float = 0.0


class RandomNormal(_Seeded):
    type: Literal["RandomNormal"] = "RandomNormal"
    mean: float = 0.0
    stddev: PositiveFloat = 0.05


class RandomUniform(_Seeded):
    type: Literal["RandomUniform"] = "RandomUniform"
    minval: float = -0.05
    maxval: float = 0.05


class TruncatedNormal(_Seeded):
    type: Literal["TruncatedNormal"] = "TruncatedNormal"
    mean: float = 0.0
    stddev: PositiveFloat = 0.05


class VarianceScaling(_Seeded):
    type: Literal["VarianceScaling"] = "VarianceScaling"
    scale: PositiveFloat = 1.0
    mode: Literal["fan_in", "fan_out", "fan_avg"] = "fan_in"
    distribution: Literal["truncated_normal", "untruncated_normal", "uniform"] = "truncated_normal"


class GlorotUniform(_Seeded):
    type: Literal["GlorotUniform"] = "GlorotUniform"


class GlorotNormal(_Seeded):
    type: Literal["GlorotNormal"] = "GlorotNormal"


class HeUniform(_Seeded):
    type: Literal["HeUniform"] = "HeUniform"


class HeNormal(_Seeded):
    type: Literal["HeNormal"] = "HeNormal"


class LecunUniform(_Seeded):
    type: Literal["LecunUniform"] = "LecunUniform"


class LecunNormal(_Seeded):
    type: Literal["LecunNormal"] = "LecunNormal"


class Orthogonal(_Seeded):
    type: Literal["Orthogonal"] = "Orthogonal"
    gain: float = 1.0


class Identity(SpecModel):
    type: Literal["Identity"] = "Identity"
    gain: float = 1.0


INITIALIZER_CLASSES: list[type[SpecModel]] = [
    Zeros, Ones, Constant, RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling,
    GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal, Orthogonal,
    Identity,
]  # fmt: skip

Initializer = _named_object(
    INITIALIZER_CLASSES,
    {"normal": "RandomNormal", "uniform": "RandomUniform", "zero": "Zeros", "one": "Ones"},
    "initializer",
    "{RandomNormal: {stddev: 0.02, seed: 1}}",
)


class L1(SpecModel):
    type: Literal["L1"] = "L1"
    l1: float = Field(0.01, ge=0)


class L2(SpecModel):
    type: Literal["L2"] = "L2"
    l2: float = Field(0.01, ge=0)


class L1L2(SpecModel):
    type: Literal["L1L2"] = "L1L2"
    l1: float = Field(0.0, ge=0)
    l2: float = Field(0.0, ge=0)


Regularizer = _named_object(
    [L1, L2, L1L2],
    {"l1_l2": "L1L2"},
    "regularizer",
    "{l2: 0.01} or {l1_l2: {l1: 0.01, l2: 0.01}}",
    short_names={"L1L2": "l1_l2"},
)


class MaxNorm(SpecModel):
    type: Literal["MaxNorm"] = "MaxNorm"
    max_value: PositiveFloat = 2.0
    axis: int | list[int] = 0


class NonNeg(SpecModel):
    type: Literal["NonNeg"] = "NonNeg"


class UnitNorm(SpecModel):
    type: Literal["UnitNorm"] = "UnitNorm"
    axis: int | list[int] = 0


class MinMaxNorm(SpecModel):
    type: Literal["MinMaxNorm"] = "MinMaxNorm"
    min_value: float = Field(0.0, ge=0)
    max_value: float = Field(1.0, ge=0)
    rate: float = Field(1.0, ge=0, le=1)
    axis: int | list[int] = 0


Constraint = _named_object(
    [MaxNorm, NonNeg, UnitNorm, MinMaxNorm],
    {"maxnorm": "MaxNorm", "nonneg": "NonNeg", "unitnorm": "UnitNorm"},
    "constraint",
    "{max_norm: {max_value: 3}}",
)


ActivityRegularizer = Annotated[
    Regularizer | None,
    Field(description="Penalty on the layer's output, added to the training loss."),
]
LoraRank = Annotated[
    PositiveInt | None,
    Field(
        description="Rank of a LoRA update: the weight (kernel, embeddings) is frozen and "
        "`lora_<weight>_a @ lora_<weight>_b * lora_alpha / lora_rank` is learned instead."
    ),
]
LoraAlpha = Annotated[
    PositiveFloat | None,
    Field(description="LoRA scale numerator; default: `lora_rank` (scale 1)."),
]


def reject_lora_with_constraint(
    lora_rank: int | None, constraint: Any, what: str, field: str
) -> None:
    """LoRA freezes the weight and learns a low-rank update beside it, so a constraint on the
    weight could never hold: Keras refuses the combination, and so do we."""
    if lora_rank is not None and constraint is not None:
        raise ValueError(f"LoRA is incompatible with {what} constraints: drop `{field}`")
