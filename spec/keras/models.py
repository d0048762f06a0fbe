"""Keras models (Sequential, Functional, nested either way) -> kspec spec trees.

Layouts followed: Keras 1 Sequential as a bare list of layers (keras 1.x `models.py`
`Sequential.get_config`, `{"class_name": "Sequential", "config": [...]}` from 1.2's
`to_json`); Keras 2 `{"name", "layers"}` (keras 2.2.4 `engine/sequential.py`), functional
`{"name", "layers", "input_layers", "output_layers"}` with `inbound_nodes` (keras 2.2.4
`engine/network.py` `get_config`); Keras 3 the same keys with `module`/`registered_name` and
`{"args", "kwargs"}` nodes (`keras/src/models/functional.py` `functional_from_config`).

A Keras layer called once is a kspec node of the same name; its k-th further call is a shared
node `{shares: name, name: name_k}`. An `InputLayer` becomes an entry of `inputs:`; a nested
model becomes a `{type: Model, spec: ...}` node.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kspec.errors import Diagnostic
from kspec.spec.keras import ops, special
from kspec.spec.keras.calls import CALL_FIELDS, DROPPED_KWARGS, inputs_of, is_op
from kspec.spec.keras.layers import POLICIES, Context, Refusal, layer_fields
from kspec.spec.keras.nodes import Call, Ref, read_call
from kspec.spec.keras.objects import dtype_name
from kspec.spec.merge_models import unique_names
from kspec.spec.source_map import Path, SourceMap

MODEL_CLASSES = ("Sequential", "Functional", "Model")
SPECIAL = {
    "Merge": special.merge,
    "TimeDistributedDense": special.time_distributed_dense,
    "Lambda": special.lambda_layer,
}
"""Keras layers translated by a function of their own (`special.py`)."""
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-/]*$")


@dataclass(frozen=True)
class LayerFacts:
    """What the weight loader needs about the Keras layer a kspec node came from."""

    keras_name: str
    class_name: str
    keras_version: str | None
    backend: str | None
    config: dict[str, Any]
    """The layer's original Keras config."""
    nested: Mapping[str, LayerFacts] = field(default_factory=dict)
    """A nested model's layers (by kspec node name), a wrapper's `layer`/`backward_layer`."""


@dataclass
class Walker:
    """Translates one Keras model (and the models nested in it), collecting refusals."""

    ctx: Context
    source_map: SourceMap
    version: str | None
    backend: str | None
    refusals: list[Diagnostic] = field(default_factory=list)
    _facts_of_calls: dict[str, LayerFacts] = field(default_factory=dict)
    _call_fields: dict[str, dict[str, Any]] = field(default_factory=dict)  # first call's

    def model(self, class_name: str, config: Any, path: Path) -> tuple[dict, dict]:
        """(spec tree without `kspec:`, facts by node name) of a Sequential or Functional."""
        if class_name == "Sequential":
            return self._sequential(config, path)
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            self._refuse(f"a {class_name} config needs a `layers` list", None, path)
            return {"layers": []}, {}
        return self._functional(config, path)

    # -- Sequential -------------------------------------------------------------------------

    def _sequential(self, config: Any, path: Path) -> tuple[dict, dict]:
        layers, where = (config, path) if isinstance(config, list) else (None, path)
        name = "sequential"
        if isinstance(config, dict):
            layers, where, name = config.get("layers"), path + ("layers",), config.get("name", name)
        if not isinstance(layers, list):
            self._refuse("a Sequential config needs a list of layers", None, path)
            return {"layers": []}, {}
        tree: dict[str, Any] = {"name": name, "inputs": {}, "layers": []}
        facts: dict[str, LayerFacts] = {}
        for i, item in enumerate(layers):
            kind, conf = _class_and_config(item)
            if kind == "InputLayer":
                tree["inputs"][_name(conf, "input_layer")] = _input_entry(conf)
                continue
            if not tree["inputs"] and not tree["layers"]:
                declared = _declared_input(conf) or _declared_input(config, "build_input_shape")
                if declared is not None:
                    tree["inputs"][f"{_name(conf, 'input')}_input"] = declared
            node = self._node(kind, conf, item, None, where + (i,))
            if node is not None:
                tree["layers"].append(node[0])
                facts[node[0]["name"]] = node[1]
        merged = bool(tree["layers"]) and "layers" in tree["layers"][0]  # its branches' inputs
        if merged:
            del tree["inputs"]
        elif not tree["inputs"]:
            self._refuse(
                "the Sequential model declares no input shape (an unbuilt Keras model); build "
                "it first (`model.build(input_shape)`) or save it after a call",
                None,
                path,
            )
        return tree, facts

    # -- Functional -------------------------------------------------------------------------

    def _functional(self, config: dict[str, Any], path: Path) -> tuple[dict, dict]:
        layers = config["layers"]
        inputs: dict[str, Any] = {}
        items = [(i, *_class_and_config(item), item) for i, item in enumerate(layers)]
        names = {_name(conf, f"layer_{i}") for i, _, conf, _ in items}
        node_names: dict[tuple[str, int], str] = {}
        for i, kind, conf, item in items:
            name = _name(conf, f"layer_{i}")
            if kind == "InputLayer":
                inputs[name] = _input_entry(conf)
                node_names[(name, 0)] = name
                continue
            for k in range(len(item.get("inbound_nodes") or [])):
                node_names[(name, k)] = name if k == 0 else unique_names([f"{name}_{k}"], names)[0]
        nodes: list[dict[str, Any]] = []
        facts: dict[str, LayerFacts] = {}
        masks_only = _mask_only_ops(items, config.get("output_layers"))
        for name in sorted(masks_only):
            note = "op computing a mask for a `mask` call argument (kspec passes masks itself)"
            self.ctx.report.add("dropped", name, note)
        for i, kind, conf, item in items:
            if kind == "InputLayer" or _name(conf, f"layer_{i}") in masks_only:
                continue
            for k, raw in enumerate(item.get("inbound_nodes") or []):
                node = self._call_node(kind, conf, item, raw, (name := _name(conf, "")), k,
                                       node_names, path + ("layers", i), masks_only)  # fmt: skip
                if node is not None:
                    nodes.append(node)
                    if k == 0:
                        facts[name] = self._facts_of_calls.pop(name)
        outputs = [self._ref(r, node_names, path) for r in _layer_refs(config.get("output_layers"))]
        order = [r.layer for r in _layer_refs(config.get("input_layers"))]
        if sorted(order) == sorted(inputs):  # the model's input order, not the layers' order
            inputs = {name: inputs[name] for name in order}
        tree = {"name": config.get("name", "model"), "inputs": inputs, "layers": nodes}
        outputs = _first_outputs([o for o in outputs if o is not None], nodes)
        return {**tree, "outputs": outputs}, facts

    def _call_node(
        self,
        kind: str,
        conf: dict[str, Any],
        item: dict[str, Any],
        raw: Any,
        name: str,
        k: int,
        node_names: dict[tuple[str, int], str],
        path: Path,
        masks_only: set[str],
    ) -> dict[str, Any] | None:
        try:
            call = read_call(raw)
            tensors = inputs_of(call, kind, item, self._call_arguments(kind))
            given = [r.layer for r in Call((call.kwargs.get("mask"),), {}).tensors()]
            if outside := [layer for layer in given if layer not in masks_only]:
                raise ValueError(
                    f"a `mask` tensor ('{outside[0]}') is passed to this layer; kspec computes "
                    "masks itself (Masking, Embedding(mask_zero=True)) and takes none as input"
                )
        except ValueError as exc:
            self._refuse(str(exc), name, path)
            return None
        pairs = tensors.items() if isinstance(tensors, dict) else enumerate(tensors)
        resolved = {key: self._ref(r, node_names, path) for key, r in pairs}
        for key in call.kwargs:
            if key in DROPPED_KWARGS and k == 0:
                note = f"call argument `{key}` ({DROPPED_KWARGS[key]})"
                self.ctx.report.add("dropped", name, note)
        if None in resolved.values():
            return None
        options = {key: v for key in CALL_FIELDS if (v := call.kwargs.get(key))}
        if options != (first := self._call_fields.setdefault(name, options)):
            why = f"called with {first} first and {options} here; a shared node shares fields"
            self._refuse(f"{why}: use two layers", name, path)
            return None
        refs = resolved if isinstance(tensors, dict) else list(resolved.values())
        if k > 0:
            return {"shares": name, "name": node_names[(name, k)], "inputs": refs}
        node = self._node(kind, conf, item, call, path)
        if node is None:
            return None
        self._facts_of_calls[name] = node[1]
        return {**node[0], "inputs": refs}

    def _call_arguments(self, kind: str) -> tuple[str, ...]:
        """The kspec layer's named call arguments (`schemas` `call_arguments`), if known."""
        lookup = self.ctx.call_arguments
        return lookup(self.ctx.custom_objects.get(kind, kind)) if lookup is not None else ()

    def _ref(self, ref: Ref, node_names: dict[tuple[str, int], str], path: Path) -> str | None:
        target = node_names.get((ref.layer, ref.node))
        if target is None:
            self._refuse(f"refers to layer '{ref.layer}' call {ref.node}, which the model does "
                         "not have", None, path)  # fmt: skip
            return None
        return target if ref.tensor == 0 else f"{target}:{ref.tensor}"

    # -- one layer --------------------------------------------------------------------------

    def _node(
        self, kind: str, conf: dict[str, Any], item: Any, call: Call | None, path: Path
    ) -> tuple[dict[str, Any], LayerFacts] | None:
        """A kspec node (fields and `name`) for one Keras layer and its facts; None if
        refused."""
        keras_name = _name(conf, kind.lower())
        name = _node_name(keras_name)
        try:
            fields, nested = self._fields(kind, conf, item, call, path)
        except Refusal as exc:
            self._refuse(str(exc), keras_name, path)
            return None
        except ops.UnknownOp as exc:
            message = (
                f"{exc} has no kspec translation; write the step as a kspec Lambda `expression`"
            )
            self._refuse(message, keras_name, path)
            return None
        if name != keras_name:
            self.ctx.report.add("converted", keras_name, f"renamed '{name}' (a kspec node name)")
        options = {k: v for k, v in (call.kwargs if call else {}).items() if k in CALL_FIELDS}
        fields.update(options)
        for key, value in options.items():
            self.ctx.report.add(
                "converted", keras_name, f"call argument `{key}={value}` as a field"
            )
        self.ctx.report.add("mapped", keras_name, f"{kind} -> {fields.get('type')}")
        return {**fields, "name": name}, self._facts(kind, conf, nested)

    def _fields(
        self, kind: str, conf: dict[str, Any], item: Any, call: Call | None, path: Path
    ) -> tuple[dict[str, Any], dict[str, LayerFacts]]:
        """The node's fields, and a nested model's facts by node name."""
        if is_op(item):
            return ops.keras3_op(kind, conf, call or Call((), {})), {}
        if kind in ("TFOpLambda", "SlicingOpLambda"):
            slicing = kind != "TFOpLambda"
            return ops.tf_op(str(conf.get("function")), call or Call((), {}), slicing), {}
        if kind in MODEL_CLASSES:
            tree, nested = self.model(kind, conf, path + ("config",))
            node: dict[str, Any] = {"type": "Model", "spec": tree}
            if conf.get("trainable") is False:
                node["trainable"] = False
            policy = dtype_name(conf.get("dtype"))
            if policy in POLICIES and policy != "float32":
                node["dtype"] = policy  # the sub-model's layers inherit it, as in Keras
            return node, nested
        if kind == "Merge" and isinstance(conf.get("layers"), list):
            return self._merge_of_models(conf, path), {}
        if kind in SPECIAL:
            return SPECIAL[kind](conf, self.ctx), {}
        return layer_fields(kind, conf, self.ctx), {}

    def _merge_of_models(self, conf: dict[str, Any], path: Path) -> dict[str, Any]:
        """Keras 1's `Merge([left, right])` of models as a Sequential's first layer (keras 1.2
        `models.py` `Sequential.get_config`): kspec's Merge of `Model` branches, which
        `spec/merge_models.py` expands into model inputs and sub-model nodes."""
        branches = []
        for j, item in enumerate(conf["layers"]):
            kind = str(item.get("class_name")) if isinstance(item, dict) else repr(item)
            config = item.get("config") if isinstance(item, dict) else None
            tree, _ = self.model(kind, config, path + ("config", "layers", j, "config"))
            branches.append({"type": "Model", "spec": tree})
        fields = special.merge({k: v for k, v in conf.items() if k != "layers"}, self.ctx)
        return {**fields, "layers": branches}

    def _facts(self, kind: str, conf: dict[str, Any], nested: dict[str, LayerFacts]) -> LayerFacts:
        nested = dict(nested)
        for key in ("layer", "backward_layer"):
            inner = conf.get(key)
            if isinstance(inner, dict) and "class_name" in inner:
                inner_kind, inner_conf = _class_and_config(inner)
                nested[key] = self._facts(inner_kind, inner_conf, {})
        keras_name = _name(conf, kind.lower())
        return LayerFacts(keras_name, kind, self.version, self.backend, conf, nested)

    def _refuse(self, message: str, layer: str | None, path: Path) -> None:
        self.ctx.report.add("refused", layer, message)
        self.refusals.append(Diagnostic(message, self.source_map.locate(path), layer))


def _first_outputs(outputs: list[str], nodes: list[dict[str, Any]]) -> list[str]:
    """Model outputs with `:0` on a node that has more outputs: a bare name in kspec's
    `outputs:` means all of a node's outputs, a Keras output one tensor."""
    multi = {o.rpartition(":")[0] for o in outputs if ":" in o}
    for node in nodes:
        if node.get("return_state") or node.get("return_attention_scores"):
            multi.add(node["name"])
        wiring = node.get("inputs") or []
        for ref in wiring.values() if isinstance(wiring, dict) else wiring:
            if ":" in ref:
                multi.add(ref.rpartition(":")[0])
    return [f"{o}:0" if o in multi else o for o in outputs]


def _node_name(keras_name: str) -> str:
    """The Keras name, made a valid kspec node name where it is not one."""
    if NAME.match(keras_name):
        return keras_name
    name = re.sub(r"[^A-Za-z0-9_.\-/]", "_", keras_name)
    return name if NAME.match(name) else f"_{name}"


def _class_and_config(item: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(item, dict):
        config = item.get("config")
        return str(item.get("class_name")), config if isinstance(config, dict) else {}
    return repr(item), {}


def _name(config: Any, default: str) -> str:
    name = config.get("name") if isinstance(config, dict) else None
    return name if isinstance(name, str) and name else default


def _declared_input(config: Any, *keys: str) -> dict[str, Any] | None:
    """The model input a (first) layer declares with Keras 1/2's keys, None if none."""
    if not isinstance(config, dict):
        return None
    for key in keys or ("batch_input_shape", "batch_shape", "build_input_shape"):
        shape = config.get(key)
        if isinstance(shape, list) and shape:
            return _entry(shape[1:], config, shape[0])
    if isinstance(config.get("input_shape"), list):
        return _entry(config["input_shape"], config, None)
    if config.get("input_dim") is not None and not keys:
        steps = [config.get("input_length")] if "input_length" in config else []
        return _entry([*steps, config["input_dim"]], config, None)
    return None


def _input_entry(config: dict[str, Any]) -> dict[str, Any]:
    return _declared_input(config) or {"shape": []}


def _entry(shape: list[Any], config: dict[str, Any], batch: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"shape": shape}
    dtype = config.get("input_dtype") or config.get("dtype")
    if isinstance(dtype, str):
        entry["dtype"] = dtype
    if isinstance(batch, int) and not isinstance(batch, bool):
        entry["batch_size"] = batch
    return entry


def _layer_refs(value: Any) -> list[Ref]:
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        value = [value]  # Keras 3 writes a single input or output unwrapped
    refs = []
    for entry in value if isinstance(value, list) else []:
        if isinstance(entry, list) and len(entry) >= 3 and isinstance(entry[0], str):
            refs.append(Ref(entry[0], entry[1], entry[2]))
    return refs


def _mask_only_ops(items: list[tuple[int, str, dict, Any]], output_layers: Any) -> set[str]:
    """The op nodes whose results feed only `mask` call arguments (directly or through other
    such ops): Keras 3 records the mask a `Masking` layer hands a Functional's next layer as
    `NotEqual` and `Any` ops passed as `mask=`. kspec propagates masks itself."""
    consumers: dict[str, set[tuple[str, bool]]] = {}
    ops_by_name = {}
    for i, _kind, conf, item in items:
        name = _name(conf, f"layer_{i}")
        if is_op(item):
            ops_by_name[name] = item
        for raw in (item.get("inbound_nodes") or []) if isinstance(item, dict) else []:
            try:
                call = read_call(raw)
            except ValueError:
                continue
            as_mask = {r.layer for r in Call((), {k: v for k, v in call.kwargs.items()
                                                  if k == "mask"}).tensors()}  # fmt: skip
            for ref in call.tensors():
                consumers.setdefault(ref.layer, set()).add((name, ref.layer in as_mask))
    outputs = {r.layer for r in _layer_refs(output_layers)}
    masks_only: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name in ops_by_name.keys() - masks_only - outputs:
            uses = consumers.get(name, set())
            if uses and all(as_mask or user in masks_only for user, as_mask in uses):
                masks_only.add(name)
                changed = True
    return masks_only
