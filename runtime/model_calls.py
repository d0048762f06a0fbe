"""Models used as layers in the Python builder.

`vision(digit_a)` (a built model called on tensors) records a `Model` node whose sub-model is
`vision`'s spec; calling it again records a `shares:` node, so both calls use one set of
weights (Keras' "shared vision model"). Keras 1's `Merge([left, right], mode="concat")` of
models, as the first layer of a `Sequential`, gives the merged model one input per branch
input and the branches as `Model` nodes (the same model as the spec form of `spec/merge_models.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from kspec.compiler import CompiledModel, Lowering
from kspec.errors import Diagnostic, SpecError
from kspec.runtime.builder import Input, Layer, Tensor, caller_location
from kspec.runtime.functional import compile_source
from kspec.schemas.canonical import layer_data, to_data
from kspec.schemas.layers.composition import Model as ModelSchema
from kspec.schemas.validate import validate_layer
from kspec.spec import SourceMap
from kspec.spec.merge_models import model_node_name, unique_names
from kspec.spec.sugar import desugar

if TYPE_CHECKING:
    from kspec.runtime.model import Model


def is_symbolic(value: Any) -> bool:
    """True for a builder tensor or a non-empty list of them (a model called as a layer)."""
    if isinstance(value, list | tuple):
        return bool(value) and all(isinstance(v, Tensor) for v in value)
    return isinstance(value, Tensor)


class ModelLayer(Layer):
    """The builder layer of a `Model` node: `kspec.layers.Model(spec={...})`, or a built model
    called on tensors (`ModelLayer.of`). Its shapes come from the compiled sub-model."""

    schema = ModelSchema

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if isinstance(kwargs.get("spec"), dict):  # shorthands as in a spec file
            kwargs["spec"] = desugar(kwargs["spec"], SourceMap("<python>"))
        super().__init__(*args, **kwargs)

    @classmethod
    def of(cls, compiled: CompiledModel) -> ModelLayer:
        """The layer of a called model: its graph (no training recipe) as the node's `spec`,
        named after the model unless that name is a default one."""
        graph = {k: v for k, v in to_data(compiled.spec).items() if k not in ("kspec", "compile")}
        name = model_node_name(None, compiled.spec.name)
        data = {"type": "Model", "spec": graph, **({"name": name} if name else {})}
        layer = cls.from_spec(validate_layer(data, caller_location()))
        layer.__dict__["compiled"] = compiled
        return layer

    @cached_property
    def compiled(self) -> CompiledModel:
        return compile_source({**layer_data(self.spec)["spec"], "kspec": 1})

    def lowering(self) -> Lowering[Any]:
        if "_lowering" not in self.__dict__:
            self.__dict__["_lowering"] = self.compiled.as_lowering()
        return self.__dict__["_lowering"]


def as_layer(model: Model) -> ModelLayer:
    """The builder layer of `model` used as a layer; the same object each time (as long as
    the model is not changed, e.g. by `Sequential.add`), so its uses share one set of weights."""
    cached = model.__dict__.get("_as_layer")
    if cached is None or cached.compiled is not model.compiled:
        cached = ModelLayer.of(model.compiled)
        model.__dict__["_as_layer"] = cached
    return cached


def call_model(model: Model, inputs: Tensor | Sequence[Tensor], *rest: Any, **kwargs: Any) -> Any:
    """`model(tensors)`: the output tensor(s) of a `Model` node applying `model`."""
    if rest or kwargs:
        raise TypeError("a model called on tensors takes only its input tensor(s)")
    return as_layer(model)(inputs)


class MergeOfModels(Layer):
    """Base of the builder's `Merge`: Keras 1 `Merge(layers=[left, right], mode=...)` over
    models; without `layers` it is the plain (deprecated) tensor merge."""

    def __init__(self, layers: Sequence[Model] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.branches = list(layers or [])
        if any(not hasattr(b, "compiled") for b in self.branches):
            raise SpecError(
                Diagnostic(
                    "Merge(layers=[...]) merges models (kspec.Sequential or kspec.Model); "
                    "merge tensors by calling Merge on them",
                    caller_location(),
                    self.display_name,
                )
            )

    def model_inputs(self) -> list[Tensor]:
        """One fresh model input per branch input, in branch order (names made unique)."""
        declared = [(n, s) for b in self.branches for n, s in b.compiled.spec.inputs.items()]
        names = unique_names([n for n, _ in declared], set())
        return [
            Input(s.shape, name, s.dtype, s.batch_size)
            for name, (_, s) in zip(names, declared, strict=True)
        ]

    def __call__(self, inputs: Tensor | Sequence[Tensor]) -> Any:
        if not self.branches:
            return super().__call__(inputs)
        tensors = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        outputs, start = [], 0
        for branch in self.branches:
            count = len(branch.compiled.graph.inputs)
            part = tensors[start : start + count]
            outputs.append(call_model(branch, part[0] if count == 1 else part))
            start += count
        return super().__call__(outputs)
