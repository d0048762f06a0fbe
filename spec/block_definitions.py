"""Template block definitions (`blocks:`): read and checked once, before any use.

A definition is checked for what does not depend on its parameters' values, so a mistake shows
even in a block no node uses yet: its keys, that every `$parameter` it uses is declared, its
`inputs` and `output`. Its layers are kept as written; each use substitutes, then desugars.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kspec.errors import Diagnostic, Location, SpecError
from kspec.spec.names import NodeKind, default_names
from kspec.spec.source_map import Path, SourceMap
from kspec.spec.sugar import desugar_layer

PARAMETER = re.compile(r"\$([A-Za-z_]\w*)")
"""A value that is exactly `$name` is replaced by the parameter (any type); `$$` escapes `$`."""

DEFINITION_KEYS = ("params", "inputs", "output", "layers")
USE_KEYS = ("block", "name", "inputs")
"""Keys of a use site that are not parameters."""


@dataclass(frozen=True)
class Block:
    """One checked definition: parameters with defaults (None: required), input names, the
    output node's local name, its layers as written and their local names (`conv_a`, or the
    Keras default of an unnamed node)."""

    name: str
    params: dict[str, Any]
    inputs: tuple[str, ...]
    output: str
    layers: list[Any]
    names: list[str]
    source_map: SourceMap
    """Locations re-rooted at the definition (`layers`, `params`, ... are its keys)."""

    def at(self, *path: str | int, key: bool = False) -> Location | None:
        """Where `path` (inside the definition) was written."""
        return self.source_map.locate(path, key=key)


def is_use(node: Any) -> bool:
    """Whether a layer item instantiates a block (`{block: name, ...}`)."""
    return isinstance(node, dict) and "block" in node


def node_kind(node: Any) -> NodeKind:
    """(type, shares, name) for naming; an unnamed use site is named after its block."""
    if not isinstance(node, dict):
        return None, None, None

    def text(key: str) -> str | None:
        return node[key] if isinstance(node.get(key), str) else None

    return text("block" if is_use(node) else "type"), text("shares"), text("name")


def located_error(message: str, location: Location | None, node: str | None = None) -> SpecError:
    """One diagnostic as an error (spec/ stops at the first template mistake)."""
    return SpecError(Diagnostic(message, location, node))


def did_you_mean(word: Any, choices: Any, quoted: str = "'%s'") -> str:
    """` (did you mean 'x'?)` for the closest of `choices`, or nothing."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f" (did you mean {quoted % close[0]}?)" if close else ""


def read_blocks(raw: Any, source_map: SourceMap) -> dict[str, Block]:
    """The spec's `blocks:` mapping (None when it has none), checked, by name."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise located_error(
            "`blocks` must map block names to definitions (`params`, `inputs`, `layers`). "
            f"Received: {type(raw).__name__}",
            source_map.locate(("blocks",)),
        )
    return {
        name: _read_block(str(name), definition, source_map.subtree(("blocks", name)))
        for name, definition in raw.items()
    }


def _read_block(name: str, raw: Any, block_map: SourceMap) -> Block:
    """Check one definition. Its layers stay as written: a use substitutes its parameters
    first and desugars after, as if the user had written the values in place."""
    _check_keys(name, raw, block_map)
    scratch = block_map.subtree(())  # desugaring moves locations; this copy may be spoilt
    canonical = [
        desugar_layer(copy.deepcopy(node), ("layers", j), scratch)
        for j, node in enumerate(raw["layers"])
    ]
    names = default_names([node_kind(node) for node in canonical])
    block = Block(
        name=name,
        params=_read_params(name, raw.get("params"), block_map),
        inputs=_read_inputs(name, raw.get("inputs", ["input"]), block_map),
        output=_read_output(name, raw.get("output"), names, block_map),
        layers=raw["layers"],
        names=names,
        source_map=block_map,
    )
    _check_references(block)
    first = canonical[0]
    if len(block.inputs) > 1 and not (isinstance(first, dict) and "inputs" in first):
        raise located_error(
            f"block '{name}' has several inputs, so its first node must name its `inputs`",
            block.at("layers", 0),
        )
    return block


def _check_keys(name: str, raw: Any, block_map: SourceMap) -> None:
    for key in raw if isinstance(raw, dict) else ():
        if key not in DEFINITION_KEYS:
            raise located_error(
                f"block '{name}': unknown key `{key}`{did_you_mean(key, DEFINITION_KEYS, '`%s`')}; "
                f"a block takes {', '.join(f'`{k}`' for k in DEFINITION_KEYS)}",
                block_map.locate((key,), key=True),
            )
    if not isinstance(raw, dict) or not isinstance(raw.get("layers"), list) or not raw["layers"]:
        raise located_error(
            f"block '{name}' needs `layers:`, a non-empty list of layers", block_map.locate(())
        )


def _read_params(name: str, raw: Any, block_map: SourceMap) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise located_error(
            f"block '{name}': `params` must map parameter names to defaults (null: required)",
            block_map.locate(("params",)),
        )
    for param in raw:
        if not (isinstance(param, str) and param.isidentifier()) or param in USE_KEYS:
            raise located_error(
                f"block '{name}': parameter names are identifiers other than "
                f"`block`, `name` and `inputs`. Received: {param!r}",
                block_map.locate(("params", param), key=True),
            )
    return dict(raw)


def _read_inputs(name: str, raw: Any, block_map: SourceMap) -> tuple[str, ...]:
    if not (isinstance(raw, list) and raw and all(isinstance(i, str) for i in raw)):
        raise located_error(
            f"block '{name}': `inputs` must be a non-empty list of input names",
            block_map.locate(("inputs",)),
        )
    if len(set(raw)) != len(raw):
        raise located_error(
            f"block '{name}': `inputs` repeats a name", block_map.locate(("inputs",))
        )
    return tuple(raw)


def _read_output(name: str, raw: Any, names: list[str], block_map: SourceMap) -> str:
    if raw is None:
        return names[-1]
    if raw not in names:
        raise located_error(
            f"block '{name}': `output` names no node of the block: "
            f"{raw!r}{did_you_mean(raw, names)}",
            block_map.locate(("output",)),
        )
    return str(raw)


def _check_references(block: Block) -> None:
    """Every `$parameter` a block uses must be declared."""
    for path, value in _strings(block.layers, ("layers",)):
        match = PARAMETER.fullmatch(value)
        if match and match[1] not in block.params:
            hint = did_you_mean(match[1], block.params, "`$%s`")
            declared = ", ".join(f"`{p}`" for p in block.params) or "none"
            where = block.at(*path)
            raise located_error(
                f"block '{block.name}': unknown parameter `{value}`{hint}",
                where
                and where.with_note(
                    f"{block.at('params')}: note: block '{block.name}' declares: {declared}"
                ),
            )


def _strings(value: Any, path: Path) -> Iterator[tuple[Path, str]]:
    """Every string value under `value`, with its path (keys are not templates)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, (*path, i))
