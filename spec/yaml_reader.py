"""YAML -> plain data + `SourceMap`, with the surprises of YAML 1.1 taken out.

We compose the YAML node graph with PyYAML's safe machinery and build values ourselves, so that
- scalars follow the YAML 1.2 core schema: `1e-3` is a float, `on`/`yes` stay strings, dates are not
  parsed, and only `true`/`false` are booleans;
- duplicate keys are an error instead of a silent overwrite;
- aliases are expanded within the load's budget (values *and* bytes, `spec.limits`), so an alias
  bomb is a located error rather than a hang, and nesting is capped where it is written;
- an explicit tag (`!!int '12'`) is honoured only for text that is that type's literal.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from kspec.errors import Diagnostic, LimitError, Location, SpecError
from kspec.spec.limits import (
    MAX_FILE_BYTES,
    MAX_INTEGER_DIGITS,
    MAX_NESTING_DEPTH,
    Budget,
    budget,
)
from kspec.spec.source_map import Path, SourceMap

_TAG = "tag:yaml.org,2002:"
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)


class _CoreSchemaResolver(BaseResolver):
    """Implicit typing of the YAML 1.2 core schema (what JSON users and Keras configs expect)."""


_CoreSchemaResolver.add_implicit_resolver(
    _TAG + "bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_CoreSchemaResolver.add_implicit_resolver(_TAG + "int", _INT, list("-+0123456789"))
_CoreSchemaResolver.add_implicit_resolver(_TAG + "float", _FLOAT, list("-+0123456789."))
_CoreSchemaResolver.add_implicit_resolver(
    _TAG + "null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)


class _Composer(Composer):
    """Composes nodes only; never constructs Python objects, so no tag can run code."""

    file, depth = "<string>", 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        """PyYAML's composer recurses per level: refuse a deep one where it gets too deep."""
        self.depth += 1
        try:
            if self.depth > MAX_NESTING_DEPTH:
                raise LimitError(
                    Diagnostic(
                        f"YAML nested too deeply (more than {MAX_NESTING_DEPTH} levels)",
                        _location(self.file, self.peek_event().start_mark),
                    )
                )
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self.depth -= 1


class _Loader(Reader, Scanner, Parser, _Composer, _CoreSchemaResolver):
    """PyYAML's pure-Python reader, scanner and parser: the reference, whose messages (and
    marks) every YAML error is reported with."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        _CoreSchemaResolver.__init__(self)


if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class _FastLoader(_Composer, CParser, _CoreSchemaResolver):  # type: ignore[misc]
        """The same composer over libyaml's parser, whose events carry the same marks (but
        one: see `compose_scalar_node`); several times faster than PyYAML's own scanner."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            Composer.__init__(self)
            _CoreSchemaResolver.__init__(self)
            self.text = stream

        def compose_scalar_node(self, anchor: str | None) -> yaml.ScalarNode:
            """An empty value in a flow collection (`{units: , ...}`) is where PyYAML puts
            it, just after its `:`, rather than at the next token as libyaml does."""
            node: yaml.ScalarNode = super().compose_scalar_node(anchor)
            mark = node.start_mark
            if node.value or node.style or mark is None:  # plain: style "" here, None in PyYAML
                return node
            before = self.text[: mark.index].rstrip(" ")
            if before.endswith(":"):
                back = mark.index - len(before)
                node.start_mark = yaml.Mark(
                    mark.name, mark.index - back, mark.line, mark.column - back, None, None
                )
            return node


_PYYAML_ONLY = re.compile("[\t?!%&\r\x85\u2028\u2029\ufeff]")
"""Text that libyaml and PyYAML may read differently, read by PyYAML alone: tabs, `?` keys,
tags, directives and anchors, which libyaml accepts (or places) otherwise in some spots;
other line breaks and byte order marks."""


def _fast_readable(text: str) -> bool:
    """Whether libyaml may read `text`: it is there, and reads it as PyYAML would."""
    return (
        yaml.__with_libyaml__
        and not _PYYAML_ONLY.search(text)
        and not Reader.NON_PRINTABLE.search(text)
    )


def _location(file: str, mark: yaml.Mark | None) -> Location:
    if mark is None:
        return Location(file, 1, 1)
    return Location(file, mark.line + 1, mark.column + 1)


def _shown_tag(tag: str) -> str:
    """`tag:yaml.org,2002:python/object` -> `!!python/object`, as the user wrote it."""
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag


_LITERALS = {
    _TAG + "int": (_INT, "an integer"),
    _TAG + "float": (_FLOAT, "a number"),
    _TAG + "bool": (re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), "`true` or `false`"),
    _TAG + "null": (re.compile(r"^(?:~|null|Null|NULL|)$"), "`null`"),
}


def _scalar(node: yaml.ScalarNode, file: str) -> Any:
    tag, text = node.tag, node.value
    if tag == _TAG + "str":
        return text
    where = _location(file, node.start_mark)
    if tag not in _LITERALS:
        raise SpecError(
            Diagnostic(
                f"unsupported YAML value {_short(text)} with tag {_shown_tag(tag)}; "
                "specs hold plain data only",
                where,
            )
        )
    pattern, expected = _LITERALS[tag]
    if not pattern.match(text):
        raise SpecError(Diagnostic(f"{_shown_tag(tag)} {_short(text)} is not {expected}", where))
    if tag == _TAG + "null":
        return None
    if tag == _TAG + "bool":
        return text.lower() == "true"
    if tag == _TAG + "float":
        special = {".inf": "inf", "+.inf": "inf", "-.inf": "-inf", ".nan": "nan"}
        return float(special.get(text.lower(), text))
    if len(text) > MAX_INTEGER_DIGITS:
        raise LimitError(
            Diagnostic(
                f"integer with {len(text):,} digits is too large; integers must fit in 64 bits",
                where,
            )
        )
    return int(text, 0) if text[:2] in ("0o", "0x") else int(text, 10)


def _short(text: str) -> str:
    """A scalar as a message quotes it: long ones cut."""
    return repr(text) if len(text) <= 40 else repr(text[:37]) + "..."


class _Builder:
    """Turns a composed node graph into plain values, recording positions as it goes."""

    def __init__(self, file: str, budget: Budget) -> None:
        self.file = file
        self.source_map = SourceMap(file)
        self.budget = budget
        self.active: set[int] = set()

    def build(self, node: yaml.Node, path: Path) -> Any:
        here = _location(self.file, node.start_mark)
        size = len(node.value) if isinstance(node, yaml.ScalarNode) else 0
        self.budget.charge(1, size, here, self.budget.via or "YAML aliases (an alias bomb?)")
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
    if len(text) > MAX_FILE_BYTES:
        raise LimitError(
            Diagnostic(
                f"spec text is {len(text):,} characters long; at most {MAX_FILE_BYTES:,} are read",
                Location(file, 1, 1),
            )
        )
    with budget() as spent:
        return _read(text, file, spent)


def _read(text: str, file: str, spent: Budget) -> tuple[Any, SourceMap]:
    """libyaml's reading of clean text, else PyYAML's; any error (limits aside, which are
    the same for both) is PyYAML's, whose messages and marks are the reference."""
    if _fast_readable(text):
        values, size = spent.values, spent.bytes
        try:
            return _parse(text, file, spent, _FastLoader)
        except LimitError:
            raise
        except Exception:  # read it again below, for PyYAML's words and places
            spent.values, spent.bytes = values, size
    return _parse(text, file, spent, _Loader)


def _parse(
    text: str, file: str, spent: Budget, loader_class: Callable[[str], _Composer]
) -> tuple[Any, SourceMap]:
    loader: _Composer | None = None
    try:
        loader = loader_class(text)  # PyYAML's reader rejects control characters here already
        loader.file = file
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
    builder = _Builder(file, spent)
    try:
        data = builder.build(node, ())
    except RecursionError:
        raise SpecError(Diagnostic("YAML nested too deeply", Location(file, 1, 1))) from None
    return data, builder.source_map
