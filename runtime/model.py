"""`Model`: a compiled spec plus its variables, with the Keras-style methods users expect.

Everything numeric goes through the compiled pure functions; `Model` only holds the current
variables and converts between Keras conventions (weight lists, numpy batches) and JAX.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from kspec.compiler import CompiledModel, Shape, Variables, check_memory
from kspec.runtime import introspection
from kspec.runtime.builder import Tensor
from kspec.runtime.freezing import FreezingMixin, NestedFreezingMixin
from kspec.runtime.functional import compile_functional
from kspec.runtime.inputs import named_inputs
from kspec.runtime.layer import Layer, replace_layer_weights
from kspec.runtime.memory_budget import max_memory
from kspec.runtime.model_calls import call_model, is_symbolic
from kspec.runtime.model_dir import save_model
from kspec.runtime.prediction import Inputs, PredictionMixin
from kspec.runtime.spec_io import SpecIOMixin
from kspec.runtime.training.legacy import LegacyMixin
from kspec.runtime.variables import abstract_variables, init_program, keepable, traced
from kspec.runtime.weights import WeightsReport, load_weights
from kspec.schemas import ModelSpec
from kspec.schemas.graph import Ref
from kspec.schemas.integers import check_seed


class Model(SpecIOMixin, FreezingMixin, PredictionMixin, LegacyMixin):
    """A compiled kspec model. Pure functions live on `compiled`; this adds the Keras API.

    `Model(compiled)` wraps a compiled spec (what `kspec.load` returns); `Model(inputs=a,
    outputs=b)` (or `Model(a, b)`) builds one from tensors of the Python builder.
    """

    def __init__(
        self,
        *args: Any,
        inputs: Tensor | Sequence[Tensor] | None = None,
        outputs: Tensor | Sequence[Tensor] | None = None,
        name: str | None = None,
        functions: Mapping[str, Any] | None = None,
    ) -> None:
        if len(args) == 1 and isinstance(args[0], CompiledModel) and inputs is outputs is None:
            compiled = args[0]
        else:
            if len(args) > 2 or (args and inputs is not None) or (len(args) > 1 and outputs):
                raise TypeError("give the model's tensors as Model(inputs, outputs)")
            inputs = args[0] if args else inputs
            outputs = args[1] if len(args) > 1 else outputs
            if inputs is None or outputs is None:
                raise TypeError("Model needs `inputs=` and `outputs=` (kspec tensors)")
            compiled = compile_functional(inputs, outputs, name or "model", functions)
        self._set_compiled(compiled)

    def _set_compiled(self, compiled: CompiledModel) -> None:
        """Adopt a (new) compiled graph, dropping what was derived from the old one."""
        self.compiled = compiled
        self._variables: Variables | None = None
        for derived in ("layer_names", "_predict_step", "traced", "_init_program"):
            self.__dict__.pop(derived, None)

    # Structure -----------------------------------------------------------------------------

    @property
    def spec(self) -> ModelSpec:
        return self.compiled.spec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def input_names(self) -> list[str]:
        return list(self.compiled.graph.inputs)

    @property
    def output_shape(self) -> Shape | list[Shape]:
        shapes = self.compiled.output_shapes
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def input_shape(self) -> Shape | list[Shape]:
        return introspection.one(list(self.compiled.input_shapes.values()))

    @cached_property
    def traced(self) -> introspection.Traced:
        """Every tensor of the model as a builder `Tensor` (for `inputs`, `outputs`, ...)."""
        return introspection.trace(self.compiled)

    @property
    def inputs(self) -> list[Tensor]:
        return self.traced.get([Ref(n) for n in self.compiled.graph.inputs])

    @property
    def outputs(self) -> list[Tensor]:
        return self.traced.get(list(self.compiled.graph.outputs))

    @property
    def input(self) -> Tensor | list[Tensor]:
        return introspection.one(self.inputs)

    @property
    def output(self) -> Tensor | list[Tensor]:
        return introspection.one(self.outputs)

    @cached_property
    def layer_names(self) -> list[str]:
        """Layers in Keras' `model.layers` order (the order of `get_weights`)."""
        return self.compiled.layer_order()

    @property
    def layers(self) -> list[Layer | SubModel]:
        return [self._layer_view(name) for name in self.layer_names]

    def _layer_view(self, name: str) -> Layer | SubModel:
        """A sub-model layer is viewed as a model (Keras' nested model); others as layers."""
        return SubModel(self, name) if name in self.compiled.submodels else Layer(self, name)

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer | SubModel:
        """A layer by name, or by position in `layers`."""
        if (name is None) == (index is None):
            raise ValueError("give exactly one of `name` and `index`")
        if index is not None:
            if not -len(self.layer_names) <= index < len(self.layer_names):
                raise ValueError(
                    f"index {index} is out of range: the model has {len(self.layer_names)} layers"
                )
            return self._layer_view(self.layer_names[index])
        if name not in self.layer_names:
            raise ValueError(f"no layer named '{name}'; layers: {', '.join(self.layer_names)}")
        return self._layer_view(name)

    # Variables -----------------------------------------------------------------------------

    def init(self, seed: int | jax.Array = 0) -> Variables:
        """Create fresh variables (Keras initializers), keep them on the model, return them.

        Refuses (`LimitError`) a model whose weights cannot fit in memory, before allocating.
        Traced (`jax.jit(model.init)`), it is pure: the model keeps nothing."""
        check_memory(self.compiled, limit=max_memory())
        seed = check_seed(seed) if isinstance(seed, int) else seed
        variables = self._init_program(seed)
        if not traced(variables):  # under `jax.jit(model.init)`: pure, nothing kept
            self._variables = variables
        return variables

    @cached_property
    def _init_program(self) -> Any:
        return init_program(self.compiled)

    def abstract_variables(self) -> Variables:
        """The variables' shapes and dtypes (`jax.ShapeDtypeStruct` leaves), creating none:
        what a restore checks a checkpoint against, so loading never runs initializers."""
        return abstract_variables(self.compiled, self._variables)

    @property
    def variables(self) -> Variables:
        if self._variables is None:
            self.init(0)
        assert self._variables is not None
        return self._variables

    @variables.setter
    def variables(self, value: Variables) -> None:
        self._variables = keepable(value)

    def count_params(self) -> int:
        """Number of Keras weights' values (a stateful RNN's carried states are not weights)."""
        return sum(int(np.prod(w.shape)) for w in self.get_weights())

    def reset_states(self, variables: Variables | None = None) -> Variables:
        """Zero the carried states of every `stateful` recurrent layer (Keras'
        `reset_states()`) in `variables` (default: the model's own, which are replaced).
        Returns the new variables."""
        given = variables is not None
        variables = variables if variables is not None else self.variables
        stateful = {
            n.layer for n in self.compiled.graph.nodes if getattr(n.spec, "stateful", False)
        }
        state = {
            layer: {k: jnp.zeros_like(v) for k, v in ws.items()} if layer in stateful else ws
            for layer, ws in variables.get("state", {}).items()
        }
        result = {**variables, "state": state}
        if not given:
            self.variables = result
        return result

    def get_weights(self) -> list[np.ndarray]:
        """All weights as numpy arrays, in exactly Keras 3's order and shapes."""
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Set all weights from a list in Keras order (e.g. `keras_model.get_weights()`).

        A model without variables yet runs no initializer when the list covers every
        variable (the usual case): random init compiles a program of its own, which the
        weights given would replace anyway. State that is no Keras weight (a stateful RNN's
        carried states) is initialised as `init(0)` would."""
        expected = sum(len(layer.weight_names()) for layer in self.layers)
        if len(weights) != expected:
            raise ValueError(
                f"set_weights expects {expected} arrays (in Keras order). Received: {len(weights)}"
            )
        if self._variables is None:
            variables = self._with_weights(self.abstract_variables(), weights)
            if not any(isinstance(v, jax.ShapeDtypeStruct) for v in jax.tree.leaves(variables)):
                self.variables = variables
                return
        self.variables = self._with_weights(self.variables, weights)

    def _with_weights(self, variables: Variables, weights: Sequence[Any]) -> Variables:
        """`variables` with every layer's Keras weights replaced by `weights` (Keras order)."""
        position = 0
        for layer in self.layers:
            count = len(layer.weight_names())
            variables = replace_layer_weights(
                variables,
                layer.name,
                self.compiled.weight_names(layer.name),
                weights[position : position + count],
            )
            position += count
        return variables

    def save_weights(self, directory: str | os.PathLike[str]) -> None:
        """Write the variables as an Orbax checkpoint (atomic: a crash leaves no half state);
        a `.weights.h5` name writes Keras 3's file instead (Keras' `load_weights` reads it)."""
        if str(directory).endswith(".weights.h5"):
            from kspec.runtime.keras_io.keras_writer import save_weights_file

            save_weights_file(self, directory)
            return
        if Path(directory).suffix.lower() in (".h5", ".hdf5", ".keras"):  # never a dir so named
            raise ValueError(
                f"save_weights({str(directory)!r}): a Keras weights file ends in '.weights.h5' "
                "(Keras 3's `load_weights` reads it); any other name is a checkpoint directory"
            )
        from kspec.runtime.checkpoint import save_variables

        save_variables(directory, self.variables, self.spec)

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the whole model as a model directory (docs/model-directory.md): spec with
        its compile recipe, weights, optimizer state; `kspec.load_model` reads it back."""
        return save_model(self, directory)

    def to_keras_file(self, path: str | os.PathLike[str]) -> None:
        """Write a Keras 3 `.keras` archive that `keras.saving.load_model` opens."""
        from kspec.runtime.keras_io.keras_writer import write_keras_file

        write_keras_file(self, path)

    def load_weights(
        self, directory: str | os.PathLike[str], by_name: bool = False, skip_mismatch: bool = False
    ) -> WeightsReport:
        """Read variables saved by `save_weights`.

        By default the checkpoint must fit this model exactly (else `CheckpointError`). With
        `by_name=True` layers are matched by name: the report (also logged) lists matched,
        missing, unexpected and wrong-shape layers; wrong shapes raise unless `skip_mismatch`.
        """
        return load_weights(self, directory, by_name=by_name, skip_mismatch=skip_mismatch)

    # Running -------------------------------------------------------------------------------

    def apply(
        self,
        variables: Variables,
        *inputs: Inputs,
        training: bool = False,
        rng: jax.Array | None = None,
        return_aux: bool = False,
    ) -> Any:
        """The model as a pure function: `apply(variables, x)` -> output(s).

        Usable under `jax.jit`, `jax.grad` and `jax.vmap`. Inputs are one array per model
        input, in order, or a dict by input name. `training=True` enables dropout (needs `rng`);
        with `return_aux=True` the result is `(outputs, Aux(state, loss))`, where `state` holds
        the layers' updated state and `loss` the sum of regularization losses.
        """
        outputs, aux = self.compiled.apply(
            variables, self._named_inputs(inputs), training=training, rng=rng
        )
        result = outputs[0] if len(outputs) == 1 else outputs
        return (result, aux) if return_aux else result

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """`model(x)` on arrays: the outputs with the model's current weights (Keras'
        `model(x, training=False)`; `training=True` needs `rng=`). `model(tensor)` on kspec
        tensors applies the model as one layer of a new model (calling it again shares its
        weights). The pure function of explicit variables is `apply(variables, x)`."""
        if args and is_symbolic(args[0]):
            return call_model(self, args[0], *args[1:], **kwargs)
        given_variables = isinstance(args[0], Mapping) and "params" in args[0] if args else False
        if given_variables and len(args) == len(self.input_names) + 1:
            raise TypeError(
                "model(x) uses the model's weights; for given variables call "
                "model.apply(variables, x)"
            )
        return self.apply(self.variables, *args, **kwargs)

    def _named_inputs(self, inputs: tuple[Inputs, ...]) -> dict[str, Any]:
        return named_inputs(self.input_names, inputs)

    # Reporting -----------------------------------------------------------------------------

    def summary(
        self, print_fn: Any = None, flops: bool = False, expand_nested: bool = False
    ) -> None:
        """Print a table of nodes: name (type), output shape, params (and FLOPs per node with
        `flops=True`); then the totals. `expand_nested=True` lists each sub-model's layers
        indented under it."""
        from kspec.runtime.summary import print_summary

        print_summary(self, print_fn, flops=flops, expand_nested=expand_nested)

    def __repr__(self) -> str:
        return f"<kspec.Model '{self.name}': {len(self.layer_names)} layers>"


class SubModel(NestedFreezingMixin, Model):
    """The model of a sub-model node, as `get_layer("vision")` returns it (Keras' nested
    model): its layers, weights, shapes and summary. Not a copy: its variables are read from
    and written to the parent's, under the node's name."""

    def __init__(self, parent: Model, layer: str) -> None:
        self._parent, self._layer = parent, layer
        self._set_compiled(parent.compiled.submodels[layer])

    @property
    def name(self) -> str:
        return self._layer

    @property
    def variables(self) -> Variables:
        outer = self._parent.variables
        params = outer["params"].get(self._layer, {})
        state = outer["state"].get(self._layer, {})
        return self._parent.compiled.nested_variables(self._layer, params, state)

    @variables.setter
    def variables(self, value: Variables) -> None:
        params, state = self._parent.compiled.flat_variables(self._layer, value)
        outer = self._parent.variables
        self._parent.variables = {
            "params": {**outer["params"], self._layer: params} if params else outer["params"],
            "state": {**outer["state"], self._layer: state} if state else outer["state"],
        }

    def init(self, seed: int | jax.Array = 0) -> Variables:
        """Fresh variables for this sub-model only, written into the parent's."""
        variables = self._init_program(seed)
        if not traced(variables):
            self.variables = variables
        return variables

    def weight_names(self) -> list[str]:
        """The node's weight names in the parent (`conv2d/kernel`, ...), Keras order."""
        return [name for _, name in self._parent.compiled.weight_names(self._layer)]

    def __repr__(self) -> str:
        return f"<kspec.Model '{self.name}' (sub-model): {len(self.layer_names)} layers>"
