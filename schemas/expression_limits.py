"""Bounds on `Lambda` expressions: size of the program, and of every Python value it computes.

An expression is untrusted input, and Python arithmetic on constants is unbounded: `10**10**10`
runs for hours, `[0] * 10**9` and `'a' * 3_000_000_000` exhaust memory. The interpreter
(`compiler.expressions`) therefore does Python-level arithmetic (on numbers, strings, lists and
tuples, never on arrays) through `apply_operator`, which refuses a result over the caps below
*before* computing it; and validation folds the constant parts of the program with the same
operator, in every branch, so a bomb is a located validation error wherever it is written.
Arrays are bounded separately: by their shapes, which the memory estimate checks at build.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

MAX_EXPRESSION_CHARS = 10_000
"""Longest expression program, in characters (checked before parsing)."""
MAX_EXPRESSION_NODES = 2_000
"""Most syntax-tree nodes in one expression program."""
MAX_EXPRESSION_DEPTH = 100
"""Deepest nesting of the syntax tree (`-(-(-x))` is 4 levels; `x+x+x` is 3)."""
MAX_INTEGER_BITS = 64
"""Largest Python integer an expression may compute: what an int64 holds."""
MAX_SEQUENCE_LENGTH = 1_000
"""Longest list or tuple an expression may build (`[x] * n`, `l1 + l2`)."""
MAX_STRING_LENGTH = 1_000
"""Longest string an expression may build (`'a' * n`)."""

BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow, ast.MatMult: operator.matmul,
}  # fmt: skip
_SYMBOL = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
    ast.Pow: "**", ast.MatMult: "@",
}  # fmt: skip
_SEQUENCES = (str, list, tuple)


def check_size(source: str) -> None:
    """Refuse a program too long to parse safely; raise `ValueError` saying the cap."""
    if len(source) > MAX_EXPRESSION_CHARS:
        raise ValueError(
            f"expression is {len(source):,} characters long; at most "
            f"{MAX_EXPRESSION_CHARS:,} are allowed"
        )


def check_tree(tree: ast.AST) -> None:
    """Refuse a syntax tree with too many nodes or nested too deeply (walked iteratively, so
    the check itself cannot overflow the stack)."""
    stack, count = [(tree, 1)], 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_EXPRESSION_NODES:
            raise ValueError(
                f"expression has more than {MAX_EXPRESSION_NODES:,} syntax nodes; split it "
                "into several Lambda layers"
            )
        if depth > MAX_EXPRESSION_DEPTH:
            raise ValueError(f"expression nested too deeply (more than {MAX_EXPRESSION_DEPTH})")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def apply_operator(op: type[ast.operator], left: Any, right: Any) -> Any:
    """`left <op> right`, refused with a `ValueError` when Python values would grow past the
    caps; arrays pass straight to the operator (JAX bounds them by shape)."""
    shown = f"`{_short(left)} {_SYMBOL[op]} {_short(right)}`"
    _refuse_before(op, left, right, shown)
    try:
        result = BINARY[op](left, right)
    except (OverflowError, ZeroDivisionError) as exc:
        raise ValueError(f"{shown}: {exc}") from None
    check_value(result, shown)
    return result


def negate(value: Any) -> Any:
    """`-value`; an integer stays within the caps (`-(-2**63)` does not)."""
    result = -value
    check_value(result, f"`-{_short(value)}`")
    return result


def check_value(value: Any, shown: str) -> None:
    """Refuse an integer, string, list or tuple over its cap."""
    if isinstance(value, int) and value.bit_length() > MAX_INTEGER_BITS:
        raise ValueError(f"{shown} is too large: integers may have at most {MAX_INTEGER_BITS} bits")
    if isinstance(value, str):
        _check_length(len(value), str, shown)
    elif isinstance(value, list | tuple):
        _check_length(_items(value), type(value), shown)


def _items(value: list[Any] | tuple[Any, ...]) -> int:
    """Items of a nested list, shared ones counted each time (as an array of it would hold
    them); the count stops once past the cap."""
    stack, count = [value], 0
    while stack and count <= MAX_SEQUENCE_LENGTH:
        for item in stack.pop():
            count += 1
            if isinstance(item, list | tuple):
                stack.append(item)
    return count


def _refuse_before(op: type[ast.operator], left: Any, right: Any, shown: str) -> None:
    """Refuse the results that would take long or much memory to compute at all."""
    if (
        op is ast.Pow
        and _is_int(left)
        and _is_int(right)
        and abs(left) > 1
        and right * math.log2(abs(left)) > MAX_INTEGER_BITS
    ):
        raise ValueError(f"{shown} is too large: integers may have at most {MAX_INTEGER_BITS} bits")
    if op is ast.Mod and isinstance(left, str):
        raise ValueError(f"{shown}: string formatting is not allowed in an expression")
    if op is ast.Mult:
        for sequence, count in ((left, right), (right, left)):
            if isinstance(sequence, _SEQUENCES) and _is_int(count):
                size = len(sequence) if isinstance(sequence, str) else _items(sequence)
                _check_length(size * max(count, 0), type(sequence), shown)


def check_constants(tree: ast.Module) -> None:
    """Fold the constant parts of a checked program, every branch of `a if c else b` included,
    with the bounded operators: a constant bomb is refused where it is written, used or not."""
    known: dict[str, Any] = {}
    for statement in tree.body:
        if isinstance(statement, ast.Assign):
            value = _fold(statement.value, known)
            known.update({t.id: value for t in statement.targets if isinstance(t, ast.Name)})
        elif isinstance(statement, ast.AugAssign) and isinstance(statement.target, ast.Name):
            current = known.get(statement.target.id, _UNKNOWN)
            value = _fold(statement.value, known)
            known[statement.target.id] = _combine(type(statement.op), current, value)
        elif isinstance(statement, ast.Expr):
            _fold(statement.value, known)


_UNKNOWN: Any = object()
"""A value only known when the layer runs (an input, a call's result)."""


def _fold(node: ast.AST, known: dict[str, Any]) -> Any:
    """The value of a constant expression, or `_UNKNOWN`; sub-expressions are folded too."""
    match node:
        case ast.Constant(value=value):
            return value
        case ast.Name(id=name):
            return known.get(name, _UNKNOWN)
        case ast.BinOp(left=left, op=op, right=right):
            return _combine(type(op), _fold(left, known), _fold(right, known))
        case ast.UnaryOp(op=ast.USub(), operand=operand):
            value = _fold(operand, known)
            try:
                return _UNKNOWN if value is _UNKNOWN else negate(value)
            except TypeError:  # `-'a'`: as for `_combine`
                return _UNKNOWN
        case ast.List(elts=elts) | ast.Tuple(elts=elts):  # its length is known, if not its items
            values = [_fold(e, known) for e in elts]
            return values if isinstance(node, ast.List) else tuple(values)
    for child in ast.iter_child_nodes(node):
        _fold(child.value if isinstance(child, ast.keyword) else child, known)
    return _UNKNOWN


def _combine(op: type[ast.operator], left: Any, right: Any) -> Any:
    if left is _UNKNOWN or right is _UNKNOWN:
        return _UNKNOWN
    try:
        return apply_operator(op, left, right)
    except TypeError:  # `'a' - 1`: left for the layer to report when it runs
        return _UNKNOWN


def _check_length(length: int, kind: type, shown: str) -> None:
    cap = MAX_STRING_LENGTH if kind is str else MAX_SEQUENCE_LENGTH
    if length > cap:
        what = "characters" if kind is str else "items"
        raise ValueError(f"{shown} is too long: {kind.__name__}s may hold at most {cap:,} {what}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _short(value: Any) -> str:
    """A value as a message shows it: arrays by shape, long values cut."""
    shape = getattr(value, "shape", None)
    if shape is not None and not isinstance(value, _SEQUENCES):
        return f"array{tuple(shape)}"
    if isinstance(value, list | tuple) and (
        len(value) > 8 or not all(isinstance(v, int | float | str | None) for v in value)
    ):
        return f"<{type(value).__name__} of {len(value):,} items>"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
