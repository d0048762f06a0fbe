"""The Python builder: Keras-style layer objects and symbolic tensors that write a spec.

`kspec.layers.Dense(32)` validates its parameters against the layer's schema class at once;
calling a layer on a `Tensor` infers the output shape with the layer's lowering, so a mistake
raises at the line that made it. `functional_spec` turns the recorded calls into spec data
(a layer called twice becomes a `shares:` node); the usual pipeline then compiles it.
"""

from __future__ import annotations

import itertools
import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from kspec.compiler import (
    BuildEnv,
    Lowering,
    Shape,
    format_shape,
    lowering_of,
    weight_shapes,
)
from kspec.errors import Diagnostic, Location, ShapeError, SpecError
from kspec.schemas.base import LayerSpec
from kspec.schemas.canonical import layer_data
from kspec.schemas.canonicalize import outside_model
from kspec.schemas.fields import snake_case
from kspec.schemas.validate import validate_layer

_KSPEC_DIRS = tuple(
    Path(__file__).resolve().parent.parent / d
    for d in ("kspec", "spec", "schemas", "compiler", "runtime")
)
_ORDER = itertools.count()
INPUT_KEYS = ("input_shape", "batch_input_shape", "input_dim", "input_length")
"""Keras keys that declare a Sequential model's input on its first layer."""


def caller_location() -> Location | None:
    """`file:line:col` of the first frame outside kspec: the user's line."""
    frame = sys._getframe(1)
    while frame is not None and _inside_kspec(frame.f_code.co_filename):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return None
    positions = list(frame.f_code.co_positions())
    col = positions[frame.f_lasti // 2][2] if frame.f_lasti // 2 < len(positions) else None
    return Location(frame.f_code.co_filename, frame.f_lineno, (col or 0) + 1)


def _inside_kspec(filename: str) -> bool:
    path = Path(filename).resolve()
    return any(path.is_relative_to(d) for d in _KSPEC_DIRS)


@dataclass(eq=False)
class Node:
    """One call of a layer (or a model input, `layer is None`), in creation order."""

    layer: Layer | None
    inputs: list[Tensor]
    as_list: bool = False
    input_spec: dict[str, Any] | None = None
    name: str | None = None
    outputs: list[Tensor] = field(default_factory=list)
    order: int = field(default_factory=lambda: next(_ORDER))
    arguments: tuple[str, ...] | None = None
    """The call argument each input fills, for a call by argument (`mha(x, ctx, key=k)`)."""

    def input_shapes(self) -> list[Shape | None]:
        """The inputs' shapes as the lowering takes them: one per call argument for a call
        by argument (None for one left out), else one per input."""
        if self.arguments is None or self.layer is None:
            return [t.shape for t in self.inputs]
        names = type(self.layer.spec).call_arguments
        given = dict(zip(self.arguments, self.inputs, strict=True))
        return [given[a].shape if a in given else None for a in names]


@dataclass(eq=False)
class Tensor:
    """A symbolic tensor: the shape (batch axis first, `None` = unknown) and where it came from."""

    shape: Shape
    node: Node
    index: int = 0
    dtype: str | None = None

    @property
    def name(self) -> str | None:
        layer = self.node.layer
        base = self.node.name or (layer.name if layer is not None else None)
        return base if self.index == 0 or base is None else f"{base}:{self.index}"

    def __repr__(self) -> str:
        return f"<kspec.Tensor shape={format_shape(self.shape)} name={self.name!r}>"


def Input(
    shape: Sequence[int | None],
    name: str | None = None,
    dtype: str = "float32",
    batch_size: int | None = None,
) -> Tensor:
    """A model input: `shape` without the batch axis, as `keras.Input`."""
    spec = {"shape": _plain(shape), "dtype": dtype}
    if batch_size is not None:
        spec["batch_size"] = batch_size
    node = Node(layer=None, inputs=[], input_spec=spec, name=name)
    tensor = Tensor((batch_size, *spec["shape"]), node, 0, dtype)
    node.outputs.append(tensor)
    return tensor


class Layer:
    """A layer built in Python: a validated schema object plus the calls made with it.

    Subclasses (one per registered layer type, see `layer_classes`) set `schema` and
    `positional`, the Keras order of positional arguments.
    """

    schema: ClassVar[type[LayerSpec]]
    positional: ClassVar[tuple[str | tuple[str, int], ...]] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        location = caller_location()
        params = _positional_params(type(self), args, kwargs, location)
        fields = type(self).schema.model_fields
        self.input_keys = {k: params.pop(k) for k in INPUT_KEYS if k in params and k not in fields}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self.spec = validate_layer({"type": self.schema.__name__, **params}, location)
        _rewarn(caught, location)
        if self.spec.inputs is not None:
            raise SpecError(
                Diagnostic(
                    "`inputs` is set by calling the layer on tensors", location, self.display_name
                )
            )
        self.nodes: list[Node] = []

    @classmethod
    def from_spec(cls, spec: LayerSpec) -> Layer:
        """The builder layer of an already validated schema object (no re-validation); call
        it on the type's class: `layer_classes()[type(spec).__name__].from_spec(spec)`."""
        layer = object.__new__(cls)
        layer.spec, layer.input_keys, layer.nodes = spec, {}, []
        return layer

    @property
    def name(self) -> str | None:
        return self.spec.name

    @property
    def trainable(self) -> bool:
        return self.spec.trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self.spec = self.spec.model_copy(update={"trainable": bool(value)})

    def get_config(self) -> dict[str, Any]:
        """The layer's parameters in spec form (`type` first, defaults filled)."""
        return layer_data(self.spec)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Layer:
        """Inverse of `get_config`: `Dense.from_config(dense.get_config())`."""
        config = dict(config)
        type_name = config.pop("type", cls.schema.__name__)
        if type_name != cls.schema.__name__:
            raise SpecError(f"{cls.__name__}.from_config got a config of type '{type_name}'")
        return cls(**config)

    def __call__(self, *args: Tensor | Sequence[Tensor], **named: Tensor) -> Any:
        """Apply the layer to symbolic tensors; returns its output tensor(s). Layers with
        named call arguments (attention) also take them as Keras does:
        `mha(query, value, key=k, attention_mask=m)`."""
        location = caller_location()
        arguments: tuple[str, ...] | None = None
        if named or len(args) != 1:
            tensors, arguments = self._by_argument(args, named, location)
            as_list = True
        else:
            (inputs,) = args
            as_list = not isinstance(inputs, Tensor)
            tensors = [inputs] if isinstance(inputs, Tensor) else list(inputs)  # type: ignore[arg-type]
        if not tensors or not all(isinstance(t, Tensor) for t in tensors):
            received = type(args[0] if len(args) == 1 else tensors[0]).__name__
            raise SpecError(
                Diagnostic(
                    "a layer is called on kspec tensors (from `kspec.Input` or another layer). "
                    f"Received: {received}",
                    location,
                    self.display_name,
                )
            )
        node = Node(layer=self, inputs=tensors, as_list=as_list, arguments=arguments)
        shapes = self.infer_shapes(node.input_shapes(), location)
        if self.nodes:
            self._check_reuse(node.input_shapes(), location)
        node.outputs = [Tensor(tuple(s), node, i) for i, s in enumerate(shapes)]
        self.nodes.append(node)
        return node.outputs[0] if len(node.outputs) == 1 else list(node.outputs)

    def _by_argument(
        self, args: tuple[Any, ...], named: dict[str, Any], location: Location | None
    ) -> tuple[list[Any], tuple[str, ...]]:
        """The tensors of a call by argument, in Keras' argument order, and their names."""
        spec_type = type(self.spec)
        arguments, layer = spec_type.call_arguments, spec_type.__name__

        def fail(message: str) -> SpecError:
            return SpecError(Diagnostic(message, location, self.display_name))

        if not arguments:
            raise fail(f"{layer} takes one input: a tensor or a list of tensors")
        if len(args) > len(arguments):
            raise fail(f"{layer} takes at most {len(arguments)} inputs ({', '.join(arguments)})")
        given = dict(zip(arguments, args, strict=False))
        for key, value in named.items():
            if key not in arguments:
                raise fail(f"unknown call argument `{key}`; {layer} takes {', '.join(arguments)}")
            if key in given:
                raise fail(f"call argument `{key}` given twice")
            given[key] = value
        missing = [a for a in arguments[: spec_type.required_call_arguments] if a not in given]
        if missing:
            raise fail(f"missing call argument {', '.join(f'`{a}`' for a in missing)}")
        order = [a for a in arguments if a in given]
        return [given[a] for a in order], tuple(order)

    def infer_shapes(self, in_shapes: list[Shape], location: Location | None) -> list[Shape]:
        """Output shapes for `in_shapes`, or a `SpecError` at the caller's line."""
        spec = outside_model(self.spec)
        try:
            return self.lowering().infer_shape(spec, in_shapes, BuildEnv())
        except ShapeError as exc:
            message = exc.diagnostics[0].message
            received = ", ".join(format_shape(s) for s in in_shapes)
            if received not in message:
                message += f" (input shapes: {received})"
            raise SpecError(Diagnostic(message, location, self.display_name)) from None

    def _check_reuse(self, in_shapes: list[Shape], location: Location | None) -> None:
        """A layer called again shares its weights: they must fit the new inputs too."""
        first = self.nodes[0].input_shapes()
        lowering, spec = self.lowering(), outside_model(self.spec)
        if weight_shapes(lowering, spec, first) != weight_shapes(lowering, spec, in_shapes):
            raise SpecError(
                Diagnostic(
                    f"calling the layer again shares its weights, built for input shapes "
                    f"{[format_shape(s) for s in first]}, but it is fed "
                    f"{[format_shape(s) for s in in_shapes]}",
                    location,
                    self.display_name,
                )
            )

    def lowering(self) -> Lowering[Any]:
        """The lowering that checks this layer's shapes (a called model's is bound to it)."""
        return lowering_of(outside_model(self.spec))

    @property
    def display_name(self) -> str:
        """The name, or the Keras default for its type before a model names it."""
        return self.name or snake_case(type(self.spec).__name__)

    def __repr__(self) -> str:
        return f"<kspec.layers.{type(self).__name__} name={self.name!r}>"


def _positional_params(
    cls: type[Layer], args: tuple[Any, ...], kwargs: dict[str, Any], location: Location | None
) -> dict[str, Any]:
    """Keyword parameters from Keras' positional order; `("kernel_size", 2)` takes two
    positional values into one list (Keras 1 `Convolution2D(64, 3, 3)`)."""
    params: dict[str, Any] = {}
    rest = list(args)
    for slot in cls.positional:
        if not rest:
            break
        name, count = (slot, 1) if isinstance(slot, str) else slot
        taken, rest = rest[:count], rest[count:]
        params[name] = taken[0] if count == 1 else taken
    if rest:
        limit = sum(1 if isinstance(s, str) else s[1] for s in cls.positional)
        raise SpecError(
            Diagnostic(
                f"{cls.__name__} takes {limit} positional argument(s) "
                f"({', '.join(_slot_name(s) for s in cls.positional) or 'none'}); pass the "
                f"others by keyword. Received: {len(args)}",
                location,
            )
        )
    for name, value in kwargs.items():
        if name in params:
            raise SpecError(Diagnostic(f"`{name}` given twice", location))
        params[name] = value
    return {k: _plain(v) for k, v in params.items()}


def _slot_name(slot: str | tuple[str, int]) -> str:
    return slot if isinstance(slot, str) else f"{slot[0]} ({slot[1]} values)"


def _plain(value: Any) -> Any:
    """Python values as spec data: tuples become lists, numpy scalars Python numbers, nested
    builder layers (wrappers) their config."""
    if isinstance(value, Layer):
        return value.get_config()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _rewarn(caught: list[warnings.WarningMessage], location: Location | None) -> None:
    """Re-issue warnings (Keras 1 names) at the user's line instead of inside pydantic."""
    for w in caught:
        file, line = (location.file, location.line) if location else (w.filename, w.lineno)
        warnings.warn_explicit(w.message, w.category, file, line)
