"""One Keras layer config -> the fields of a kspec node (`type` and parameters).

The parameters keep their Keras names: kspec's schemas use Keras 3's, and accept Keras 1's as
aliases; the importer has them renamed here (`Context.renames`), each rename a report line.
What this module also changes is what the schemas cannot know from one node alone: the Keras
generation's meaning (`hard_sigmoid`, GRU's `reset_after`), layer types Keras later dropped or
renamed, serialized objects, and the keys that describe the Keras object rather than the layer
(dropped, each reported with its reason).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kspec.spec.keras.objects import dtype_name, is_serialized, plain_object
from kspec.spec.keras.report import ImportReport

INPUT_KEYS = ("batch_input_shape", "batch_shape", "input_shape", "input_dtype", "batch_size")
"""Keys by which Keras 1/2 declared the model input on a layer (Keras 1 wrote them on every
layer it built); the first layer's become the model's `inputs:`."""

DROPPED = {
    "build_config": "Keras build record; kspec infers every shape",
    "build_input_shape": "Keras build record; kspec infers every shape",
    "compile_config": "training recipe of a nested model; kspec trains the model as one",
    "autocast": "Keras dtype behaviour; kspec computes in float32",
}
"""Keys dropped whatever their value, with the reason the report gives."""

CLASS_DROPPED = {
    ("Embedding", "dropout"): "Keras 1 word dropout, training only; add a Dropout layer to "
    "train with it",
}
"""Keys of one layer type kspec drops (they do not change inference), with the reason."""

ANY = object()
NEUTRAL: dict[str, Any] = {
    "quantization_config": (None,), "sparse": (False,), "ragged": (False,),
    "optional": (False,), "fused": ANY, "renorm": (False,), "renorm_clipping": (None,),
    "renorm_momentum": ANY, "virtual_batch_size": (None,), "adjustment": (None,),
    "time_major": (False,), "output_mask": (None,), "output_mask_type": ANY,
    "zero_output_for_mask": (False,),
}  # fmt: skip
"""Keys kspec does not have, dropped when they hold a value meaning kspec's behaviour (ANY: any
value, given the others) and refused otherwise."""

LEGACY_ACTIVATIONS = {"hard_sigmoid": "legacy_hard_sigmoid"}
"""Activations whose Keras 1/2 (and tf.keras <= 2.15) formula differs from Keras 3's:
`hard_sigmoid` was `clip(0.2 x + 0.5, 0, 1)`, Keras 3's is `relu6(x + 3) / 6`."""

CUDNN = {
    "CuDNNLSTM": ("LSTM", {"activation": "tanh", "recurrent_activation": "sigmoid"}),
    "CuDNNGRU": (
        "GRU",
        {"activation": "tanh", "recurrent_activation": "sigmoid", "reset_after": True},
    ),
}
"""Keras 2's cuDNN layers: the plain layer with cuDNN's fixed activations (and GRU's reset
after the recurrent matmul), as Keras 2's `preprocess_weights_for_loading` treated them."""

WRAPPED_KEYS = ("layer", "backward_layer")

POLICIES = ("float32", "bfloat16", "float16", "mixed_bfloat16", "mixed_float16")
"""Keras dtype policies kspec layers take as `dtype` (`schemas/precision.py`); float32, the
default, is left out of the spec."""


Renames = Callable[[str, dict[str, Any]], tuple[str, dict[str, Any], list[str]]]
"""(type, parameters) -> the same with Keras 1 names replaced, and a line per replacement."""


class Refusal(Exception):
    """A layer kspec will not translate; the message says why and what to do instead."""


@dataclass
class Context:
    """What translating one model needs: the Keras generation, the caller's plugins and
    functions, and the report being written."""

    generation: int
    report: ImportReport
    custom_objects: dict[str, str]
    functions: frozenset[str]
    known_types: Callable[[str], bool] | None
    renames: Renames | None = None
    """The schemas' Keras 1 renames (`schemas.registry.keras1_renames`): applied here, so
    the report lists each one and no deprecation warning reaches the user."""
    call_arguments: Callable[[str], tuple[str, ...]] | None = None
    """A kspec layer type's named call arguments (`LayerSpec.call_arguments`): keyword
    tensors of a Keras call become these named inputs."""
    unknown: list[tuple[str, str]] = field(default_factory=list)
    """(class name, layer name) of every type nobody knows, refused together at the end."""


def layer_fields(class_name: str, config: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """The kspec node fields (`type` and parameters, no name or wiring) of a plain layer."""
    name = str(config.get("name", class_name))
    if class_name in ctx.custom_objects:
        kind = ctx.custom_objects[class_name]
        ctx.report.add("converted", name, f"{class_name} -> registered kspec type {kind}")
        class_name = kind
    elif class_name in CUDNN:
        class_name, fixed = CUDNN[class_name]
        config = {**config, **fixed}
        ctx.report.add("converted", name, f"Keras 2 cuDNN layer -> {class_name} {fixed}")
    elif ctx.known_types is not None and not ctx.known_types(class_name):
        ctx.unknown.append((class_name, name))
    params = _parameters(class_name, config, name, ctx)
    if ctx.renames is not None:
        try:
            class_name, params, renamed = ctx.renames(class_name, params)
        except ValueError as exc:
            raise Refusal(str(exc)) from None
        for note in renamed:
            ctx.report.add("renamed", name, note)
    if class_name == "GRU" and ctx.generation < 3 and "reset_after" not in params:
        params["reset_after"] = False
        ctx.report.add("converted", name, "GRU without `reset_after` (Keras 1/2.0): False")
    return {"type": class_name, **params}


def _parameters(class_name: str, config: dict[str, Any], name: str, ctx: Context) -> dict:
    params: dict[str, Any] = {}
    dropped: list[str] = []
    for key, value in config.items():
        if key in ("name", *INPUT_KEYS) or (key == "trainable" and value is True):
            continue
        if key in ("input_dim", "input_length") and class_name != "Embedding":
            continue  # a model input (read by the caller), repeated on every Keras 1 layer
        if (class_name, key) in CLASS_DROPPED:
            dropped.append(f"`{key}={value!r}` ({CLASS_DROPPED[class_name, key]})")
        elif key == "dtype":
            policy = dtype_name(value)
            if policy in POLICIES and policy != "float32":
                params["dtype"] = policy
                ctx.report.add("converted", name, f"dtype policy {policy}")
            else:
                dropped.append(_dtype_note(policy or repr(value)))
        elif key in DROPPED:
            dropped.append(f"`{key}` ({DROPPED[key]})")
        elif key in NEUTRAL:
            if NEUTRAL[key] is not ANY and value not in NEUTRAL[key]:
                raise Refusal(f"`{key}={value!r}` has no kspec equivalent")
            dropped.append(f"`{key}={value!r}` (kspec's behaviour)")
        elif key in WRAPPED_KEYS and is_serialized(value):
            inner = value["config"] if isinstance(value["config"], dict) else {}
            if class_name == "Bidirectional":  # Keras sets it on the layers it wraps
                inner = {k: v for k, v in inner.items() if k != "zero_output_for_mask"}
            params[key] = layer_fields(str(value["class_name"]), inner, ctx)
        else:
            params[key] = _value(key, value, name, ctx)
    if dropped:
        ctx.report.add("dropped", name, "; ".join(dropped))
    return params


def _value(key: str, value: Any, name: str, ctx: Context) -> Any:
    notes: list[str] = []
    value = plain_object(value, notes)
    if key.endswith("activation") and ctx.generation < 3 and value in LEGACY_ACTIVATIONS:
        notes.append(f"`{key}: {value}` is Keras 1/2's clip(0.2 x + 0.5, 0, 1)")
        value = LEGACY_ACTIVATIONS[value]
    for note in notes:
        ctx.report.add("converted", name, note)
    return value


def _dtype_note(policy: str) -> str:
    if policy == "float32":
        return "`dtype` float32 (the model's default policy)"
    return f"`dtype` {policy} (no kspec dtype policy of that name; computed in float32)"
