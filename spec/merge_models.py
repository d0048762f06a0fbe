"""Keras 1's `Merge` of models, rewritten to model inputs, sub-model nodes and the merge.

```yaml
layers:                         # Keras 1: model.add(Merge([left, right], mode='concat'))
  - type: Merge
    mode: concat
    layers:
      - {type: Model, spec: {inputs: {x: [784]}, layers: [{type: Dense, units: 32}]}}
      - {type: Model, include: right_branch.yaml}
  - {type: Dense, units: 10}
```

becomes one model input per branch input (named as in the branch, made unique: `x`, `x_1`),
a `Model` node per branch fed by its inputs, and the plain `Merge` of the branch outputs. The
Python builder's `Merge([left, right], mode=...)` builds the same model.
"""

from __future__ import annotations

import copy
from typing import Any

from kspec.errors import Diagnostic, SpecError
from kspec.spec.source_map import SourceMap

DEFAULT_MODEL_NAMES = ("model", "sequential")
"""Model names nobody chose; a branch so named gets a node name of its own (`model_1`)."""


def model_node_name(name: Any, spec_name: Any) -> str | None:
    """The node name of a model used as a layer: the node's `name`, else the model's own
    unless it is a default one (then None: named like any node)."""
    if isinstance(name, str):
        return name
    if isinstance(spec_name, str) and spec_name not in DEFAULT_MODEL_NAMES:
        return spec_name
    return None


def unique_names(names: list[str], taken: set[str]) -> list[str]:
    """`names` in order, each made unique Keras-style (`input`, `input_1`) and kept from
    `taken` (which gains them)."""
    result = []
    for name in names:
        candidate, n = name, 0
        while candidate in taken:
            n += 1
            candidate = f"{name}_{n}"
        taken.add(candidate)
        result.append(candidate)
    return result


def expand_merge_of_models(data: Any, source_map: SourceMap) -> Any:
    """The spec with a first-layer `Merge` of models rewritten (in place); `source_map` is
    updated so every value still points where it was written."""
    layers = data.get("layers") if isinstance(data, dict) else None
    if not isinstance(layers, list):
        return data
    for i, node in enumerate(layers):
        if isinstance(node, dict) and node.get("type") == "Merge" and "layers" in node:
            _check_place(data, i, source_map)
            _expand(data, node, source_map)
    return data


def _check_place(data: dict[str, Any], index: int, source_map: SourceMap) -> None:
    where = source_map.locate(("layers", index, "layers"), key=True)
    if index != 0:
        raise SpecError(
            Diagnostic(
                "a Merge of models (`layers:`) must be the first layer: its branches are the "
                "model's inputs; merge tensors with `inputs:` instead",
                where,
            )
        )
    if "inputs" in data:
        raise SpecError(
            Diagnostic(
                "a Merge of models declares the model's inputs (one per branch input); remove "
                "the top-level `inputs:`",
                where,
            )
        )
    if "inputs" in data["layers"][0]:
        raise SpecError(
            Diagnostic("a Merge of models takes no `inputs:`; its branches feed it", where)
        )


def _expand(data: dict[str, Any], merge: dict[str, Any], source_map: SourceMap) -> None:
    branches = merge["layers"]
    if not isinstance(branches, list) or len(branches) < 2:
        raise SpecError(
            Diagnostic(
                "Merge `layers:` lists two or more models",
                source_map.locate(("layers", 0, "layers")),
            )
        )
    for j, branch in enumerate(branches):
        if not (isinstance(branch, dict) and isinstance(branch.get("spec"), dict)):
            raise SpecError(
                Diagnostic(
                    "each Merge branch is a model: `{type: Model, spec: {...}}` or "
                    "`{type: Model, include: file.yaml}`",
                    source_map.locate(("layers", 0, "layers", j)),
                )
            )
    count = len(branches)
    source_map.shift_index(("layers",), 0, count)  # the merge node moves behind its branches
    inputs: dict[str, Any] = {}
    feeds = []
    for j, branch in enumerate(branches):
        source_map.move(("layers", count, "layers", j), ("layers", j))
        own = branch["spec"].get("inputs")
        names = list(own) if isinstance(own, dict) else []
        feeds.append(unique_names(names, set(inputs)))
        for name, outer in zip(names, feeds[-1], strict=True):
            inputs[outer] = copy.deepcopy(own[name])
            where = source_map.subtree(("layers", j, "spec", "inputs", name))
            source_map.graft(("inputs", outer), where)
    taken = {n["name"] for n in data["layers"] if isinstance(n, dict) and "name" in n}
    taken |= set(inputs)
    nodes = []
    for branch, fed in zip(branches, feeds, strict=True):
        given = model_node_name(branch.get("name"), branch["spec"].get("name"))
        name = given if given is not None else unique_names(["model"], taken)[0]
        taken.add(name)
        nodes.append({**branch, "name": name, "inputs": fed})
    data["inputs"] = inputs
    rest = {k: v for k, v in merge.items() if k != "layers"}
    data["layers"][:1] = [*nodes, {**rest, "inputs": [n["name"] for n in nodes]}]
