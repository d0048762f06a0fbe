"""`Layer`: the view of one layer of a model that `model.get_layer(...)` and `model.layers`
return, with Keras' per-node introspection (`input`, `get_output_shape_at`, ...) and weights."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import jax.numpy as jnp
import numpy as np

from kspec.compiler import Shape, Variables
from kspec.runtime import introspection
from kspec.runtime.freezing import Weight, layer_weights
from kspec.schemas.base import LayerSpec
from kspec.schemas.canonical import layer_data
from kspec.schemas.graph import Ref

if TYPE_CHECKING:
    from kspec.runtime.model import Model


class Layer:
    """A view of one layer of a model: its spec, shapes and weights (Keras order)."""

    def __init__(self, model: Model, name: str) -> None:
        self._model = model
        self.name = name

    @property
    def spec(self) -> LayerSpec:
        return self._model.compiled.graph.layer_nodes()[self.name][0].spec

    # Per node (Keras: a shared layer has one node per call) -------------------------------

    @property
    def input(self) -> Any:
        """The input tensor(s); an error naming the nodes if the layer is shared."""
        return self._unique("input", [self.get_input_at(i) for i in self._node_range], False)

    @property
    def output(self) -> Any:
        return self._unique("output", [self.get_output_at(i) for i in self._node_range], False)

    @property
    def input_shape(self) -> Shape | list[Shape]:
        """The input shape(s), batch axis None; an error if shared nodes see different ones."""
        shapes = [self.get_input_shape_at(i) for i in self._node_range]
        return self._unique("input_shape", shapes, True)

    @property
    def output_shape(self) -> Shape | list[Shape]:
        shapes = [self.get_output_shape_at(i) for i in self._node_range]
        return self._unique("output_shape", shapes, True)

    def get_input_at(self, node_index: int) -> Any:
        node = introspection.node_at(self._model.compiled, self.name, node_index)
        return introspection.one(self._model.traced.get(list(node.inputs)))

    def get_output_at(self, node_index: int) -> Any:
        node = introspection.node_at(self._model.compiled, self.name, node_index)
        return introspection.one([self._model.traced.tensors[r] for r in self._refs(node)])

    def get_input_shape_at(self, node_index: int) -> Shape | list[Shape]:
        node = introspection.node_at(self._model.compiled, self.name, node_index)
        return introspection.one(self._model.compiled.input_shapes_of(node))

    def get_output_shape_at(self, node_index: int) -> Shape | list[Shape]:
        node = introspection.node_at(self._model.compiled, self.name, node_index)
        return introspection.one(introspection.output_shapes(self._model.compiled, node))

    @property
    def _node_range(self) -> range:
        return range(len(introspection.layer_nodes(self._model.compiled, self.name)))

    def _refs(self, node: Any) -> list[Ref]:
        count = len(introspection.output_shapes(self._model.compiled, node))
        return [Ref(node.name, i) for i in range(count)]

    def _unique(self, what: str, values: list[Any], shapes: bool) -> Any:
        return introspection.unique_per_node(self._model.compiled, self.name, what, values, shapes)

    def get_config(self) -> dict[str, Any]:
        """The layer's parameters in spec form, as `kspec.layers.deserialize` reads them."""
        return layer_data(self.spec)

    @property
    def trainable(self) -> bool:
        return self.spec.trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        """Freeze or unfreeze this layer in its model (`runtime/freezing.py`)."""
        self._model._freeze([self.name], bool(value))

    @property
    def weights(self) -> list[Weight]:
        return layer_weights(self._model.compiled, self._model.variables, self.name)

    @property
    def trainable_weights(self) -> list[Weight]:
        return [w for w in self.weights if w.trainable]

    @property
    def non_trainable_weights(self) -> list[Weight]:
        return [w for w in self.weights if not w.trainable]

    def weight_names(self) -> list[str]:
        return [name for _, name in self._model.compiled.weight_names(self.name)]

    def get_weights(self) -> list[np.ndarray]:
        """Trainable weights first, then non-trainable, each in creation order (as Keras)."""
        variables = self._model.variables
        return [
            np.asarray(variables[group][self.name][name])
            for group, name in self._model.compiled.weight_names(self.name)
        ]

    def set_weights(self, weights: Sequence[Any]) -> None:
        self._model.variables = replace_layer_weights(
            self._model.variables, self.name, self._model.compiled.weight_names(self.name), weights
        )

    def __repr__(self) -> str:
        return f"<Layer {self.name}: {type(self.spec).__name__}>"


def replace_layer_weights(
    variables: Variables, layer: str, names: list[tuple[str, str]], weights: Sequence[Any]
) -> Variables:
    """New variables with `layer`'s weights replaced, after checking count and shapes."""
    current = [(group, name, variables[group][layer][name]) for group, name in names]
    if len(weights) != len(current):
        raise ValueError(
            f"layer '{layer}' has {len(current)} weights "
            f"({', '.join(n for _, n, _ in current) or 'none'}). Received: {len(weights)}"
        )
    updated = {group: dict(variables[group]) for group in ("params", "state")}
    for (group, name, old), new in zip(current, weights, strict=True):
        new = jnp.asarray(new, dtype=old.dtype)
        if new.shape != old.shape:
            raise ValueError(
                f"layer '{layer}' weight '{name}' has shape {old.shape}. Received: {new.shape}"
            )
        updated[group][layer] = {**updated[group][layer], name: new}
    return updated
