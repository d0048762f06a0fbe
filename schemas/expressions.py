"""The safe expression language of `Lambda` layers, checked without running anything.

An expression is Python syntax restricted to arithmetic, calls of whitelisted array functions,
indexing, and assignments to local names, ending in one expression: e.g.

    c = x - mean(x, axis=1, keepdims=True)
    n = l2_normalize(c, axis=1)
    concatenate([relu(n), relu(-n)], axis=1)

It is parsed with `ast` and interpreted by the compiler; `eval`/`exec` are never used. `K.`,
`ops.` and `keras.ops.` prefixes are accepted so Keras snippets can be pasted.
"""

from __future__ import annotations

import ast
import difflib

from kspec.schemas.expression_limits import (
    MAX_EXPRESSION_DEPTH,
    check_constants,
    check_size,
    check_tree,
)

FUNCTIONS = frozenset(
    {
        "abs", "exp", "log", "log1p", "sqrt", "square", "sin", "cos", "tanh", "sign", "floor",
        "ceil", "round", "power", "maximum", "minimum", "clip", "where", "erf",
        "sum", "mean", "max", "min", "prod", "std", "var", "cumsum", "argmax", "argmin",
        "concatenate", "stack", "expand_dims", "squeeze", "reshape", "transpose", "matmul",
        "l2_normalize", "cast", "one_hot",
        "relu", "relu6", "sigmoid", "softmax", "log_softmax", "softplus", "softsign", "elu",
        "selu", "gelu", "silu", "swish", "leaky_relu", "hard_sigmoid", "mish",
    }
)  # fmt: skip
"""Array functions an expression may call (each maps to a `jax.numpy`/`jax.nn` function)."""

CONSTANTS = frozenset({"pi", "e", "inf", "True", "False", "None"})
MODULE_PREFIXES = frozenset({"K", "ops", "keras", "backend", "np", "jnp"})

_ALLOWED_NODES = (
    ast.Module, ast.Expr, ast.Assign, ast.AugAssign, ast.Name, ast.Load, ast.Store, ast.Constant,
    ast.BinOp, ast.UnaryOp, ast.Compare, ast.Call, ast.keyword, ast.Subscript, ast.Slice,
    ast.Tuple, ast.List, ast.Attribute, ast.IfExp,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.MatMult,
    ast.USub, ast.UAdd, ast.Not, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE,
)  # fmt: skip


def parse_expression(source: str, variables: frozenset[str] = frozenset({"x"})) -> ast.Module:
    """Parse and check an expression; raise `ValueError` saying what is not allowed and where.

    `variables` are the names bound on entry (`x`, or `inputs` and `x0`, `x1`, ... for several
    inputs, plus the Lambda's `arguments`). Size, depth and constant arithmetic are bounded
    (`schemas.expression_limits`).
    """
    check_size(source)
    try:
        tree = ast.parse(source.strip(), mode="exec")
    except SyntaxError as exc:
        raise ValueError(f"invalid expression: {exc.msg} (line {exc.lineno})") from None
    except (RecursionError, MemoryError):  # the parser's own stack, on <= 10,000 characters
        raise ValueError(
            f"expression nested too deeply (more than {MAX_EXPRESSION_DEPTH})"
        ) from None
    check_tree(tree)
    for child in ast.walk(tree):  # forbidden constructs first: they are the real mistake
        if not isinstance(child, _ALLOWED_NODES):
            raise ValueError(f"`{type(child).__name__}` is not allowed in an expression")
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        raise ValueError("an expression must end with the value to return, e.g. `x ** 2`")
    bound = set(variables) | CONSTANTS
    for statement in tree.body:
        _check_node(statement, bound)
        if isinstance(statement, ast.Assign | ast.AugAssign):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            for target in targets:
                if not isinstance(target, ast.Name):
                    raise ValueError("only plain names can be assigned, e.g. `y = x * 2`")
                bound.add(target.id)
    check_constants(tree)
    return tree


def _check_node(node: ast.AST, bound: set[str]) -> None:
    for child in ast.walk(node):
        if not isinstance(child, _ALLOWED_NODES):
            raise ValueError(f"`{type(child).__name__}` is not allowed in an expression")
        if isinstance(child, ast.Call):
            name = function_name(child.func)
            if name not in FUNCTIONS:
                raise ValueError(
                    f"unknown function `{ast.unparse(child.func)}`; allowed: "
                    f"{', '.join(sorted(FUNCTIONS))}"
                )
        elif isinstance(child, ast.Attribute) and not _is_call_target(child, node):
            raise ValueError(f"attribute access `{ast.unparse(child)}` is not allowed")
        elif (
            isinstance(child, ast.Name)
            and isinstance(child.ctx, ast.Load)
            and child.id not in bound | FUNCTIONS | MODULE_PREFIXES
        ):
            close = difflib.get_close_matches(child.id, sorted(bound | FUNCTIONS), n=1)
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            raise ValueError(f"unknown name `{child.id}` in expression{hint}")


def function_name(func: ast.expr) -> str | None:
    """`relu`, `K.relu`, `keras.ops.relu` -> `relu`; anything else -> None."""
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        base = func.value
        while isinstance(base, ast.Attribute):
            base = base.value
        if isinstance(base, ast.Name) and base.id in MODULE_PREFIXES:
            return func.attr
    return None


def _is_call_target(attribute: ast.Attribute, root: ast.AST) -> bool:
    for parent in ast.walk(root):
        if isinstance(parent, ast.Call):
            func = parent.func
            while isinstance(func, ast.Attribute):
                if func is attribute:
                    return True
                func = func.value  # type: ignore[assignment]
    return False
