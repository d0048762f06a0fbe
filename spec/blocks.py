"""Template blocks: layers written once under `blocks:`, instantiated by `{block: name}` nodes.

```yaml
blocks:
  residual:
    params: {filters: null, kernel_size: 3}    # null: required
    layers:
      - {type: Conv2D, name: conv, filters: $filters, kernel_size: $kernel_size, padding: same}
      - {type: Add, inputs: [input, conv]}      # `input`: the tensor the block is applied to
layers:
  - {block: residual, name: res1, filters: 16}
```

Expansion happens here, in stage 1, so `schemas` and every later stage see an ordinary spec: the
block's nodes are inlined, named `<use>_<inner name>` (`res1_conv`), and its output node (the last,
or the one `output:` names) takes the use site's own name (`res1`), so later nodes refer to the
use site as to any node. Each expanded value keeps the location of the definition line it came
from, with a note naming the use site; a substituted `$parameter` keeps the location of the value
the use site passed, with a note at the definition line that uses it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from kspec.spec.block_budget import BlockPrices
from kspec.spec.block_definitions import (
    PARAMETER,
    USE_KEYS,
    Block,
    did_you_mean,
    is_use,
    located_error,
    node_kind,
    read_blocks,
)
from kspec.spec.limits import MAX_BLOCK_DEPTH, budget, size_of
from kspec.spec.names import default_names
from kspec.spec.source_map import Path, SourceMap
from kspec.spec.sugar import desugar_layer


@dataclass(frozen=True)
class Feed:
    """A tensor fed to a block input (`node` or `node:1`), with where the use site wrote it."""

    text: str
    source_map: SourceMap | None = None


Expanded = list[tuple[Any, SourceMap]]
"""Expanded nodes, each with its locations re-rooted at the node."""


def expand_blocks(data: Any, source_map: SourceMap) -> Any:
    """The spec with every `{block: ...}` node replaced by the block's layers and no `blocks:`
    key, in sub-models' inline specs too; `source_map` is updated in place."""
    if not isinstance(data, dict):
        return data
    layers = data.get("layers")
    if "blocks" in data or (isinstance(layers, list) and any(is_use(n) for n in layers)):
        blocks = read_blocks(data.get("blocks"), source_map)
        data = {key: value for key, value in data.items() if key != "blocks"}
        source_map.replace_subtree(("blocks",), SourceMap(source_map.file))
        if isinstance(layers, list) and layers:
            _replace_layers(data, source_map, _expand_top_level(data, source_map, blocks))
    _expand_submodels(data, source_map)
    return data


def _replace_layers(data: dict[str, Any], source_map: SourceMap, expanded: Expanded) -> None:
    """`data["layers"]` becomes the expanded nodes, each with its locations at its new index."""
    data["layers"] = [node for node, _ in expanded]
    layers_map = source_map.subtree(("layers",))
    for table in (layers_map.values, layers_map.keys):
        for path in [p for p in table if p]:  # keep where `layers:` itself is
            del table[path]
    for i, (_, node_map) in enumerate(expanded):
        layers_map.graft((i,), node_map)
    source_map.replace_subtree(("layers",), layers_map)


def _expand_submodels(data: dict[str, Any], source_map: SourceMap) -> None:
    """A sub-model's inline `spec:` is a spec of its own: it may declare and use blocks (the
    enclosing spec's blocks are not in scope there)."""
    layers = data.get("layers")
    for i, node in enumerate(layers if isinstance(layers, list) else []):
        if isinstance(node, dict) and node.get("type") == "Model" and "spec" in node:
            path = ("layers", i, "spec")
            nested_map = source_map.subtree(path)
            layers[i] = {**node, "spec": expand_blocks(node["spec"], nested_map)}
            source_map.replace_subtree(path, nested_map)


def _expand_top_level(
    data: dict[str, Any], source_map: SourceMap, blocks: dict[str, Block]
) -> Expanded:
    """Expand the model's layers. A use site without `inputs` takes the previous node, which
    gets its default name written out when it had none; a node after a block whose output is
    not its last node is wired to the output explicitly, and so is a model's default output."""
    layers = data["layers"]
    names = default_names([node_kind(node) for node in layers])
    inputs = data.get("inputs")
    previous = next(iter(inputs), None) if isinstance(inputs, dict) else None
    result: Expanded = []
    node_maps = _node_maps(source_map, len(layers))
    prices = BlockPrices(blocks)
    for i, node in enumerate(layers):
        node_map = node_maps[i]
        after_use = i > 0 and is_use(layers[i - 1]) and _name_of(result[-1][0]) != names[i - 1]
        if is_use(node):
            if i > 0 and "inputs" not in node and not is_use(layers[i - 1]):
                result[-1] = _named(*result[-1], names[i - 1])
            feed = Feed(previous) if previous is not None else None
            with budget() as spent:
                prices.check(node["block"], spent, node_map.locate(("block",)))
            result += _Instance(blocks, node, node_map, names[i], names[i], ()).expand(feed)
        else:
            if after_use and isinstance(node, dict) and "inputs" not in node:
                node = {**node, "inputs": [names[i - 1]]}
            result.append((node, node_map))
        previous = names[i]
    if "outputs" not in data and is_use(layers[-1]) and _name_of(result[-1][0]) != names[-1]:
        data["outputs"] = [names[-1]]
    return result


def _node_maps(source_map: SourceMap, count: int) -> list[SourceMap]:
    """Each top-level node's locations, re-rooted at the node (one pass over the map)."""
    maps = [SourceMap(source_map.file) for _ in range(count)]
    for table in ("values", "keys"):
        for path, loc in getattr(source_map, table).items():
            if path[:1] == ("layers",) and len(path) > 1 and path[1] in range(count):
                getattr(maps[path[1]], table)[path[2:]] = loc
    return maps


def _name_of(node: Any) -> Any:
    return node.get("name") if isinstance(node, dict) else None


def _named(node: Any, node_map: SourceMap, name: str) -> tuple[Any, SourceMap]:
    """`node` with its default name written out (a block use refers to it by name)."""
    return ({**node, "name": node.get("name", name)} if isinstance(node, dict) else node), node_map


class _Instance:
    """One use of a block: its parameter values, the tensors fed to its inputs, and the final
    name of each of its nodes: `<prefix>_<inner name>`, and `name` for its output node. At top
    level both are the use site's name; a block used inside a block has the prefix of its path
    (`stage1_res2`) and, when it is that block's output, the outer use's name (`stage1`)."""

    def __init__(
        self,
        blocks: dict[str, Block],
        use: dict[str, Any],
        use_map: SourceMap,
        name: str,
        prefix: str,
        chain: tuple[str, ...],
    ) -> None:
        self.blocks, self.use, self.use_map = blocks, use, use_map
        if not isinstance(use.get("name", ""), str):
            raise located_error(
                f"`name` must be a string. Received: name={use['name']!r}",
                use_map.locate(("name",)),
                prefix,
            )
        self.prefix, self.chain = prefix, chain
        self.block = self._block()
        where = use_map.locate(("block",))
        self.notes = (
            f"{where}: note: in block '{self.block.name}' used by node '{prefix}'",
            *(where.notes if where else ()),
        )
        self.values = self._arguments()
        self.renames = {
            local: name if local == self.block.output else f"{prefix}_{local}"
            for local in self.block.names
        }

    def expand(self, previous: Feed | None) -> Expanded:
        """The block's nodes, parameters substituted, names prefixed, inputs wired."""
        feeds = self._feeds(previous)
        block, result = self.block, []
        feed = feeds.get(block.inputs[0]) if len(block.inputs) == 1 else None
        for j, node in enumerate(block.layers):
            node_map = _noted(block.source_map.subtree(("layers", j)), *self.notes)
            node = desugar_layer(self._substitute(node, (), node_map), (), node_map)
            node = self._rewire(node, node_map, feeds, feed)
            final = self.renames[block.names[j]]
            if is_use(node):
                path = f"{self.prefix}_{block.names[j]}"
                nested = _Instance(
                    self.blocks, node, node_map, final, path, (*self.chain, block.name)
                )
                result += nested.expand(None)
            else:
                result.append(
                    ({**node, "name": final} if isinstance(node, dict) else node, node_map)
                )
                self._charge(result[-1][0])
            feed = Feed(final)
        return result

    def _charge(self, node: Any) -> None:
        """Count a produced node against the load's budget: blocks using blocks twice per
        level double at each level."""
        uses = " -> ".join((*self.chain, self.block.name))
        with budget() as spent:
            spent.charge(*size_of(node), self.use_map.locate(("block",)), f"blocks ({uses})")

    def _block(self) -> Block:
        block_name, where = self.use["block"], self.use_map.locate(("block",))
        if not isinstance(block_name, str) or block_name not in self.blocks:
            known = (
                did_you_mean(block_name, self.blocks)
                if self.blocks
                else "; no `blocks:` are declared"
            )
            raise located_error(f"unknown block '{block_name}'{known}", where, self.prefix)
        if block_name in self.chain:
            cycle = " -> ".join((*self.chain[self.chain.index(block_name) :], block_name))
            raise located_error(f"block cycle: {cycle}", where, self.prefix)
        if len(self.chain) >= MAX_BLOCK_DEPTH:
            uses = " -> ".join((*self.chain, block_name))
            raise located_error(
                f"blocks nested more than {MAX_BLOCK_DEPTH} deep: {uses}", where, self.prefix
            )
        return self.blocks[block_name]

    def _arguments(self) -> dict[str, Any]:
        """Parameter values: the use site's, else the defaults; every required one given."""
        block = self.block
        for key in self.use:
            if key not in USE_KEYS and key not in block.params:
                where = self.use_map.locate((key,), key=True)
                declared = ", ".join(f"`{p}`" for p in block.params) or "none"
                raise located_error(
                    f"unknown parameter `{key}` for block '{block.name}'"
                    f"{did_you_mean(key, block.params, '`%s`')}",
                    where
                    and where.with_note(
                        f"{block.at('params')}: note: block '{block.name}' takes: {declared}"
                    ),
                    self.prefix,
                )
        for param, default in block.params.items():
            if default is None and param not in self.use:
                where = self.use_map.locate(())
                raise located_error(
                    f"missing required parameter `{param}` of block '{block.name}'",
                    where
                    and where.with_note(
                        f"{block.at('params', param, key=True)}: note: "
                        f"`{param}` is declared here without a default"
                    ),
                    self.prefix,
                )
        return {param: self.use.get(param, default) for param, default in block.params.items()}

    def _feeds(self, previous: Feed | None) -> dict[str, Feed]:
        """Block input name -> the tensor the use site feeds it (its `inputs`, in order, or
        else the previous node)."""
        block, given = self.block, self.use.get("inputs")
        if given is None and len(block.inputs) == 1:
            return {block.inputs[0]: previous} if previous is not None else {}
        where = self.use_map.locate(("inputs",))
        if given is not None and not (
            isinstance(given, list) and all(isinstance(ref, str) for ref in given)
        ):
            raise located_error("`inputs` must be a list of node names", where, self.prefix)
        if given is None or len(given) != len(block.inputs):
            expected = ", ".join(f"`{name}`" for name in block.inputs)
            received = "none" if given is None else len(given)
            n = len(block.inputs)
            raise located_error(
                f"block '{block.name}' takes {n} input{'s' * (n > 1)} ({expected}). "
                f"Received: {received}",
                where
                and where.with_note(
                    f"{block.at('inputs')}: note: block '{block.name}' declares its inputs here"
                ),
                self.prefix,
            )
        return {
            name: Feed(ref, self.use_map.subtree(("inputs", k)))
            for k, (name, ref) in enumerate(zip(block.inputs, given, strict=True))
        }

    def _substitute(self, value: Any, path: Path, node_map: SourceMap) -> Any:
        """`value` with every `$parameter` replaced; the replaced value is located where the
        use site wrote it (or at its default), with a note at the `$parameter` line."""
        if isinstance(value, dict):
            return {k: self._substitute(v, (*path, k), node_map) for k, v in value.items()}
        if isinstance(value, list):
            return [self._substitute(v, (*path, i), node_map) for i, v in enumerate(value)]
        if not isinstance(value, str):
            return value
        match = PARAMETER.fullmatch(value)
        if match is None:
            return value[1:] if value.startswith("$$") else value
        param = match[1]
        used_at = f"{node_map.locate(path)}: note: used as `{value}` in block '{self.block.name}'"
        if param in self.use:
            origin = _noted(self.use_map.subtree((param,)), used_at)
        else:
            origin = _noted(self.block.source_map.subtree(("params", param)), used_at, *self.notes)
        node_map.replace_subtree(path, origin)
        return copy.deepcopy(self.values[param])

    def _rewire(
        self, node: Any, node_map: SourceMap, feeds: dict[str, Feed], feed: Feed | None
    ) -> Any:
        """References to the block's nodes renamed and its inputs replaced by the fed tensors;
        a node without `inputs` takes `feed` (the previous node, or the block's input)."""
        if not isinstance(node, dict):
            return node
        node = dict(node)
        if "inputs" not in node and feed is not None:
            node["inputs"] = [feed.text]
            if feed.source_map is not None:
                node_map.replace_subtree(("inputs", 0), feed.source_map)
        elif isinstance(node.get("inputs"), list):
            node["inputs"] = [
                self._rename(ref, ("inputs", k), node_map, feeds)
                for k, ref in enumerate(node["inputs"])
            ]
        elif isinstance(node.get("inputs"), dict):  # inputs by call-argument name
            node["inputs"] = {
                key: self._rename(ref, ("inputs", key), node_map, feeds)
                for key, ref in node["inputs"].items()
            }
        if isinstance(node.get("shares"), str):
            node["shares"] = self.renames.get(node["shares"], node["shares"])
        return node

    def _rename(self, ref: Any, path: Path, node_map: SourceMap, feeds: dict[str, Feed]) -> Any:
        """`conv` -> `res1_conv`, `input:1` -> `lstm:1` (the fed tensor, output 1)."""
        if not isinstance(ref, str):
            return ref
        node, index = _split_ref(ref)
        suffix = f":{index}" if index is not None else ""
        feed = feeds.get(node)
        if feed is None:
            return self.renames.get(node, node) + suffix
        if feed.source_map is not None:
            node_map.replace_subtree(path, feed.source_map)
        if suffix and _split_ref(feed.text)[1] is not None:
            raise located_error(
                f"`{ref}` takes an output of block input '{node}', but it is already one "
                f"output of a node (`{feed.text}`); write `{node}`",
                node_map.locate(path),
                self.prefix,
            )
        return feed.text + suffix


def _split_ref(ref: str) -> tuple[str, int | None]:
    """`enc:1` -> ("enc", 1); `enc` -> ("enc", None)."""
    node, sep, index = ref.rpartition(":")
    return (node, int(index)) if sep and index.isdigit() else (ref, None)


def _noted(source_map: SourceMap, *notes: str) -> SourceMap:
    """A copy of `source_map` whose every location gains `notes`, in order."""
    for note in notes:
        noted = SourceMap(source_map.file)
        noted.graft((), source_map, note)
        source_map = noted
    return source_map
