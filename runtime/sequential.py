"""`kspec.Sequential`: a chain of builder layers, compiled again after each `add`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kspec.compiler import CompiledModel, Variables
from kspec.errors import Diagnostic, SpecError
from kspec.runtime.builder import Input, Layer, Tensor, caller_location
from kspec.runtime.catalogue import from_spec
from kspec.runtime.functional import compile_functional, compile_source
from kspec.runtime.model import Model
from kspec.runtime.model_calls import MergeOfModels, ModelLayer, as_layer
from kspec.schemas.graph import Ref
from kspec.schemas.nodes import SharedNode
from kspec.spec import SourceMap
from kspec.spec.sugar import desugar


class Sequential(Model):
    """A linear stack of layers, as `keras.Sequential`: `Sequential([Dense(32,
    input_dim=784), Dense(10)])` or `.add(layer)` one by one. The input comes from the first
    layer's `input_shape` / `input_dim` (or a leading `kspec.Input(...)`, or `build(shape)`)."""

    def __init__(
        self,
        layers: Iterable[Layer | Tensor | Model] | None = None,
        name: str | None = None,
        functions: Mapping[str, Any] | None = None,
    ) -> None:
        self._name, self._functions = name or "sequential", functions
        self._stack: list[Layer] = []
        self._input: Tensor | list[Tensor] | None = None
        self._compiled: CompiledModel | None = None
        self._variables: Variables | None = None
        for layer in layers or []:
            self.add(layer)

    @property  # type: ignore[override]
    def compiled(self) -> CompiledModel:
        if self._compiled is None:
            raise SpecError(
                f"the Sequential model '{self._name}' has no input shape yet: give the first "
                "layer input_shape=... (or input_dim=...), start with kspec.Input(shape=...), "
                "or call build((None, ...))"
                if self._stack
                else f"the Sequential model '{self._name}' has no layers yet"
            )
        return self._compiled

    @compiled.setter
    def compiled(self, value: CompiledModel) -> None:
        self._compiled = value

    def add(self, layer: Layer | Tensor | Model) -> None:
        """Append a layer (its shape is checked now, against the model's output); a model
        is added as one layer (a sub-model node), as in Keras."""
        location = caller_location()
        if isinstance(layer, Model):
            layer = as_layer(layer)
        if isinstance(layer, Tensor) and layer.node.layer is None:
            if self._stack or self._input is not None:
                raise SpecError(Diagnostic("kspec.Input(...) must come first", location))
            self._input = layer
            return
        if not isinstance(layer, Layer):
            raise SpecError(
                Diagnostic(
                    f"Sequential.add takes a kspec layer. Received: {type(layer).__name__}",
                    location,
                )
            )
        if self._input is None and not self._stack:
            self._input = _input_of(layer)
        self._stack.append(layer)
        if self._input is not None:
            try:
                self._rebuild(self._stack[-1:] if self._compiled is not None else self._stack)
            except SpecError:
                self._stack.pop()  # the model stays as it was before the failed add
                raise

    def pop(self) -> Layer:
        """Remove and return the last layer."""
        if not self._stack:
            raise SpecError(f"the Sequential model '{self._name}' has no layers to pop")
        layer = self._stack.pop()
        self._output = self._input
        self._compiled = None
        if self._stack and self._input is not None:
            self._rebuild(self._stack)
        return layer

    def build(self, input_shape: Iterable[int | None]) -> None:
        """Set the input shape (batch axis first, as Keras: `build((None, 784))`)."""
        shape = list(input_shape)
        self._input = Input(shape=shape[1:], batch_size=shape[0])
        self._compiled = None
        self._rebuild(self._stack)

    @property
    def name(self) -> str:
        return self._name

    def _rebuild(self, new_layers: list[Layer]) -> None:
        """Call `new_layers` on the current output and compile the whole chain again; the
        weights of layers already there are kept."""
        output = self._input if self._compiled is None else self._output
        assert output is not None and self._input is not None
        for layer in new_layers:
            output = layer(output)
        old = self._variables
        compiled = compile_functional(self._input, output, self._name, self._functions)
        self._output = output
        self._set_compiled(compiled)
        if old is not None:
            self._variables = _keep(old, self.init(0))

    def _respec(self, spec: Any) -> None:
        """Freezing (`freezing.py`) also updates the builder layers, so a later `add`, which
        compiles the chain again from them, keeps it."""
        super()._respec(spec)
        declared = {
            item.name: item
            for item in self.compiled.spec.layers
            if not isinstance(item, SharedNode)
        }
        for layer in self._stack:
            if layer.spec.name in declared and layer.spec != declared[layer.spec.name]:
                layer.spec = declared[layer.spec.name]
                for derived in ("compiled", "_lowering"):  # a ModelLayer's, from its spec
                    layer.__dict__.pop(derived, None)

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], functions: Mapping[str, Any] | None = None
    ) -> Sequential:
        """A Sequential model from spec data whose nodes form one chain."""
        compiled = compile_source(dict(config), functions)
        spec, graph = compiled.spec, compiled.graph
        previous = [Ref(n) for n in graph.inputs]
        for node in graph.nodes:
            if len(graph.inputs) != 1 or list(node.inputs) != previous:
                raise SpecError(
                    Diagnostic(
                        "not a sequential model (this node does not take the previous one's "
                        "output); use kspec.Model.from_config",
                        node.location,
                        node.name,
                    )
                )
            previous = [Ref(node.name)]
        model = cls(name=spec.name, functions=functions)
        ((input_name, input_spec),) = spec.inputs.items()
        model._input = Input(input_spec.shape, input_name, input_spec.dtype, input_spec.batch_size)
        by_name = {layer.name: layer for layer in spec.layers}
        objects: dict[str, Layer] = {}
        for item in spec.layers:
            owner = item.shares if isinstance(item, SharedNode) else item.name
            assert owner is not None
            if owner not in objects:
                objects[owner] = from_spec(by_name[owner])  # type: ignore[arg-type]
            model._stack.append(objects[owner])
        output = model._input
        for layer in model._stack:
            output = layer(output)
        model._output = output
        model._set_compiled(compiled)  # the spec as given: from_config(c).get_config() == c
        return model


def _input_of(layer: Layer) -> Tensor | list[Tensor] | None:
    """The model input(s) a first layer declares: Keras' `input_shape` / `input_dim` / ...
    keys (as in a spec), or one per branch input of a Keras 1 `Merge` of models."""
    if isinstance(layer, MergeOfModels) and layer.branches:
        return layer.model_inputs()
    if isinstance(layer, ModelLayer):  # a model as the first layer: its own input
        ((name, spec),) = layer.compiled.spec.inputs.items()
        return Input(spec.shape, name, spec.dtype, spec.batch_size)
    if not layer.input_keys:
        return None
    data = desugar(
        {"layers": [{"type": layer.schema.__name__, **layer.input_keys}]}, SourceMap("<python>")
    )
    entry = data["inputs"]["input"]
    return Input(entry["shape"], "input", entry.get("dtype", "float32"), entry.get("batch_size"))


def _keep(old: Variables, new: Variables) -> Variables:
    """`new` with the weights of every layer `old` has in the same shapes."""
    merged = {group: dict(new[group]) for group in new}
    for group, layers in old.items():
        for name, weights in layers.items():
            current = merged.get(group, {}).get(name)
            if current is not None and all(
                k in current and current[k].shape == w.shape for k, w in weights.items()
            ):
                merged[group][name] = weights
    return merged
