"""YAML -> plain data + `SourceMap`, with the surprises of YAML 1.1 taken out.

We compose the YAML node graph with PyYAML's safe machinery and build values ourselves, so that
- scalars follow the YAML 1.2 core schema: `1e-3` is a float, `on`/`yes` stay strings, dates are not
  parsed, and only `true`/`false` are booleans;
- duplicate keys are an error instead of a silent overwrite;
- aliases are expanded with a budget, so an alias bomb is a located error rather than a hang.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from kspec.errors import Diagnostic, Location, SpecError
from kspec.spec.source_map import Path, SourceMap

MAX_VALUES = 100_000
"""Most scalars, lists and mappings one document may expand to (aliases counted each time)."""

_TAG = "tag:yaml.org,2002:"


class _CoreSchemaResolver(BaseResolver):
    """Implicit typing of the YAML 1.2 core schema (what JSON users and Keras configs expect)."""


_CoreSchemaResolver.add_implicit_resolver(
    _TAG + "bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_CoreSchemaResolver.add_implicit_resolver(
    _TAG + "int",
    re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"),
)
_CoreSchemaResolver.add_implicit_resolver(
    _TAG + "float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)
_CoreSchemaResolver.add_implicit_resolver(
    _TAG + "null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)


class _Loader(Reader, Scanner, Parser, Composer, _CoreSchemaResolver):
    """Composes nodes only; never constructs Python objects, so no tag can run code."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        _CoreSchemaResolver.__init__(self)


def _location(file: str, mark: yaml.Mark | None) -> Location:
    if mark is None:
        return Location(file, 1, 1)
    return Location(file, mark.line + 1, mark.column + 1)


def _shown_tag(tag: str) -> str:
    """`tag:yaml.org,2002:python/object` -> `!!python/object`, as the user wrote it."""
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag


def _scalar(node: yaml.ScalarNode, file: str) -> Any:
    tag, text = node.tag, node.value
    if tag == _TAG + "str":
        return text
    if tag == _TAG + "null":
        return None
    if tag == _TAG + "bool":
        return text.lower() == "true"
    try:
        if tag == _TAG + "int":
            return int(text, 0) if text[:2] in ("0o", "0x") else int(text, 10)
        if tag == _TAG + "float":
            special = {".inf": "inf", "+.inf": "inf", "-.inf": "-inf", ".nan": "nan"}
            return float(special.get(text.lower(), text))
    except ValueError:
        pass
    raise SpecError(
        Diagnostic(
            f"unsupported YAML value {text!r} with tag {_shown_tag(tag)}; "
            "specs hold plain data only",
            _location(file, node.start_mark),
        )
    )


class _Builder:
    """Turns a composed node graph into plain values, recording positions as it goes."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.source_map = SourceMap(file)
        self.count = 0
        self.active: set[int] = set()

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.count += 1
        here = _location(self.file, node.start_mark)
        if self.count > MAX_VALUES:
            raise SpecError(
                Diagnostic(
                    f"document expands to more than {MAX_VALUES} values through aliases "
                    "(an alias bomb?); write the values out or use fewer aliases",
                    here,
                )
            )
        self.source_map.values[path] = here
        if isinstance(node, yaml.ScalarNode):
            return _scalar(node, self.file)
        if node.tag not in (_TAG + "seq", _TAG + "map"):
            raise SpecError(
                Diagnostic(
                    f"unsupported YAML tag {_shown_tag(node.tag)}; specs hold plain data only", here
                )
            )
        if id(node) in self.active:
            raise SpecError(Diagnostic("recursive YAML alias: a value cannot contain itself", here))
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
            return self._mapping(node, path)
        finally:
            self.active.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key_loc = _location(self.file, key_node.start_mark)
            if not isinstance(key_node, yaml.ScalarNode):
                raise SpecError(Diagnostic("mapping keys must be plain scalars", key_loc))
            key = _scalar(key_node, self.file)
            if key in result:
                first = self.source_map.keys[path + (key,)]
                raise SpecError(
                    Diagnostic(
                        f"duplicate key {key!r} (first defined at line {first.line})", key_loc
                    )
                )
            self.source_map.keys[path + (key,)] = key_loc
            result[key] = self.build(value_node, path + (key,))
        return result


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    """PyYAML's message in the user's words, saying where an unclosed construct began."""
    problem = exc.problem or exc.context or "invalid YAML"
    problem = problem.replace("'<stream end>'", "end of file")
    if "'\\t'" in problem or "'\t'" in problem:
        return "tabs cannot indent YAML; indent with spaces"
    start, end = exc.context_mark, exc.problem_mark
    if exc.context and start is not None and end is not None and start.line != end.line:
        construct = re.sub(r"^while (?:parsing|scanning) an? ", "", exc.context)
        problem += f" (in the {construct} that starts at line {start.line + 1})"
    return problem


def read_yaml(text: str, file: str = "<string>") -> tuple[Any, SourceMap]:
    """Parse one YAML document into plain data and its source map; errors are `SpecError`s."""
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # the reader rejects control characters here already
        node = loader.get_single_node()
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        where = Location(file, before.count("\n") + 1, exc.position - before.rfind("\n"))
        message = f"invalid YAML: control character U+{exc.character:04X} is not allowed"
        raise SpecError(Diagnostic(message, where)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = _location(file, mark)
        raise SpecError(Diagnostic(f"invalid YAML: {_yaml_problem(exc)}", where)) from None
    except yaml.YAMLError as exc:
        raise SpecError(Diagnostic(f"invalid YAML: {exc}", Location(file, 1, 1))) from None
    except RecursionError:
        raise SpecError(Diagnostic("YAML nested too deeply", Location(file, 1, 1))) from None
    finally:
        if loader is not None:
            loader.dispose()
    if node is None:
        return None, SourceMap(file)
    builder = _Builder(file)
    try:
        data = builder.build(node, ())
    except RecursionError:
        raise SpecError(Diagnostic("YAML nested too deeply", Location(file, 1, 1))) from None
    return data, builder.source_map
