"""Freezing as in Keras 3: `layer.trainable = False`, `model.trainable = False`, and the
`weights` / `trainable_weights` / `non_trainable_weights` lists.

Trainability is a fact of the spec (`trainable:` of each layer), so the setters rewrite the
spec and compile it again, keeping every weight: the training step (gradients), the optimizer
slots, `summary` and checkpoints all read it from there. As Keras asks for `compile()` again
after a change, the jitted steps and optimizer slots are rebuilt on the next `fit`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jax
import numpy as np

from kspec.compiler import CompiledModel, Variables, compile_model
from kspec.schemas.nodes import SharedNode

if TYPE_CHECKING:
    from kspec.schemas.base import LayerSpec
    from kspec.schemas.model import GraphSpec


@dataclass(frozen=True)
class Weight:
    """One weight, as Keras' `model.weights` lists them: `path` (`dense/kernel`), `name`,
    `trainable`, and its current value (`numpy()`, `np.asarray(w)`)."""

    path: str
    name: str
    trainable: bool
    value: Any

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.value.shape)

    @property
    def dtype(self) -> Any:
        return self.value.dtype

    def numpy(self) -> np.ndarray:
        return np.asarray(self.value)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self.value, dtype=dtype)


def layer_weights(compiled: CompiledModel, variables: Variables, layer: str) -> list[Weight]:
    """A layer's weights in Keras order; a frozen layer's (and every `state` one) are not
    trainable."""
    frozen = not compiled.graph.layer_nodes()[layer][0].spec.trainable
    return [
        Weight(
            f"{layer}/{name}",
            name.rsplit("/", 1)[-1],
            group == "params" and not frozen,
            variables[group][layer][name],
        )
        for group, name in compiled.weight_names(layer)
    ]


def set_trainable(spec: GraphSpec, layers: Collection[str], value: bool) -> GraphSpec:
    """`spec` with `trainable: value` on the named layers. Like Keras' setter, which sets
    every sublayer too, making a sub-model trainable makes each layer inside trainable."""
    return replace_layers(spec, layers, lambda layer: _with_trainable(layer, value))


def replace_layers(
    spec: GraphSpec, layers: Collection[str], change: Callable[[LayerSpec], LayerSpec]
) -> GraphSpec:
    """`spec` with `change` applied to the named layers (not to `shares:` nodes)."""
    updated = [
        item if isinstance(item, SharedNode) or item.name not in layers else change(item)
        for item in spec.layers
    ]
    return spec.model_copy(update={"layers": updated})


def _with_trainable(layer: LayerSpec, value: bool) -> LayerSpec:
    inner = getattr(layer, "spec", None)
    update: dict[str, Any] = {"trainable": value}
    if value and inner is not None and hasattr(inner, "layers"):  # a sub-model node
        update["spec"] = set_trainable(inner, [n.name for n in inner.layers], True)
    return layer.model_copy(update=update)


def recompiled(compiled: CompiledModel, spec: GraphSpec) -> CompiledModel:
    """`spec` compiled with the same Lambda functions as `compiled`."""
    return compile_model(spec, None, compiled.env.functions)


def regroup(variables: Variables, compiled: CompiledModel) -> Variables:
    """`variables` laid out for `compiled`: a sub-model's frozen inner weights move between
    the node's `params` and `state` (`composition.Slot`); values are kept as they are."""
    shapes = jax.eval_shape(compiled.init, jax.random.PRNGKey(0))
    result: dict[str, dict[str, dict[str, Any]]] = {"params": {}, "state": {}}
    for group in ("params", "state"):
        for layer, names in shapes[group].items():
            pool = {**variables["params"].get(layer, {}), **variables["state"].get(layer, {})}
            result[group][layer] = {name: pool[name] for name in names}
    return result


class FreezingMixin:
    """`trainable` and the weight lists on `Model` (which provides `compiled`, `variables`,
    `layer_names`, `_set_compiled` and the training state)."""

    compiled: CompiledModel
    variables: Variables
    layer_names: list[str]
    _set_compiled: Callable[[CompiledModel], None]
    _steps: Any
    _opt_state: Any

    @property
    def trainable(self) -> bool:
        """False once every layer is frozen (`model.trainable = False`)."""
        layers = self.compiled.graph.layer_nodes()
        return not layers or any(nodes[0].spec.trainable for nodes in layers.values())

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._freeze(self.layer_names, bool(value))

    def _freeze(self, layers: Collection[str], value: bool) -> None:
        """Set `trainable` on `layers`; see the module docstring."""
        self._respec(set_trainable(self.compiled.spec, layers, value))

    def _respec(self, spec: GraphSpec) -> None:
        """Adopt `spec`, which differs only in which layers train, keeping every weight; the
        training steps and optimizer slots are rebuilt on the next `fit`."""
        compiled = recompiled(self.compiled, spec)
        variables = regroup(self.variables, compiled)
        self._set_compiled(compiled)
        self.variables = variables
        self._steps = self._opt_state = None

    @property
    def weights(self) -> list[Weight]:
        """Every weight, in `get_weights` order (Keras' `model.weights`)."""
        return [w for layer in self.layer_names for w in self._layer_weights(layer)]

    @property
    def trainable_weights(self) -> list[Weight]:
        return [w for w in self.weights if w.trainable]

    @property
    def non_trainable_weights(self) -> list[Weight]:
        return [w for w in self.weights if not w.trainable]

    def _layer_weights(self, layer: str) -> list[Weight]:
        return layer_weights(self.compiled, self.variables, layer)


class NestedFreezingMixin(FreezingMixin):
    """Freezing on the view of a sub-model node (`get_layer("base")`), which owns nothing:
    its `trainable` is the node's, and its layers' changes rewrite the node's declared spec,
    both in the parent's spec (`_parent`, `_layer` from `SubModel`)."""

    _parent: FreezingMixin
    _layer: str

    @property
    def trainable(self) -> bool:
        return FreezingMixin.trainable.fget(self)  # type: ignore[attr-defined]

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._parent._freeze([self._layer], bool(value))
        self._set_compiled(self._parent.compiled.submodels[self._layer])

    def _node(self) -> Any:
        return self._parent.compiled.graph.layer_nodes()[self._layer][0].spec

    def _freeze(self, layers: Collection[str], value: bool) -> None:
        self._respec(set_trainable(self._node().spec, layers, value))

    def _respec(self, spec: GraphSpec) -> None:
        node = self._node().model_copy(update={"spec": spec})
        self._parent._respec(
            replace_layers(self._parent.compiled.spec, [self._layer], lambda _: node)
        )
        self._set_compiled(self._parent.compiled.submodels[self._layer])
