"""Interpreter for `Lambda` expressions (checked by `schemas.expressions`): walks the `ast`,
calling only whitelisted `jax.numpy` / `jax.nn` functions. Never `eval` or `exec`.

Python-level arithmetic goes through the bounded operators of `schemas.expression_limits`,
and `a if c else b` evaluates only the branch taken when `c` is a Python value (both, for
`jnp.where`, when it is an array)."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from kspec.compiler.activations import ACTIVATIONS
from kspec.schemas.expression_limits import apply_operator, negate
from kspec.schemas.expressions import FUNCTIONS, function_name, parse_expression


def _l2_normalize(x: jax.Array, axis: int = -1, epsilon: float = 1e-12) -> jax.Array:
    square_sum = jnp.sum(jnp.square(x), axis=axis, keepdims=True)
    return x * jax.lax.rsqrt(jnp.maximum(square_sum, epsilon))


def _cast(x: jax.Array, dtype: str) -> jax.Array:
    return x.astype(dtype)


_NUMPY_FUNCTIONS = [
    "abs",
    "exp",
    "log",
    "log1p",
    "sqrt",
    "square",
    "sin",
    "cos",
    "tanh",
    "sign",
    "floor",
    "ceil",
    "round",
    "power",
    "maximum",
    "minimum",
    "clip",
    "where",
    "sum",
    "mean",
    "max",
    "min",
    "prod",
    "std",
    "var",
    "cumsum",
    "argmax",
    "argmin",
    "concatenate",
    "stack",
    "expand_dims",
    "squeeze",
    "reshape",
    "transpose",
    "matmul",
]
_ACTIVATION_FUNCTIONS = [
    "relu",
    "relu6",
    "sigmoid",
    "softplus",
    "softsign",
    "elu",
    "selu",
    "silu",
    "swish",
    "mish",
    "hard_sigmoid",
]

IMPLEMENTATIONS: dict[str, Callable[..., Any]] = {
    **{name: getattr(jnp, name) for name in _NUMPY_FUNCTIONS},
    **{name: ACTIVATIONS[name] for name in _ACTIVATION_FUNCTIONS},
    "softmax": jax.nn.softmax,
    "log_softmax": jax.nn.log_softmax,
    "leaky_relu": lambda x, negative_slope=0.2: jax.nn.leaky_relu(x, negative_slope),
    # keras.ops.gelu's default is the tanh approximation (the `gelu` activation's is exact)
    "gelu": lambda x, approximate=True: jax.nn.gelu(x, approximate=approximate),
    "erf": jax.scipy.special.erf,
    "l2_normalize": _l2_normalize,
    "cast": _cast,
    "one_hot": jax.nn.one_hot,
}
assert set(IMPLEMENTATIONS) == FUNCTIONS, set(IMPLEMENTATIONS) ^ FUNCTIONS

_COMPARE = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}  # fmt: skip
_CONSTANTS = {
    "pi": math.pi,
    "e": math.e,
    "inf": math.inf,
    "True": True,
    "False": False,
    "None": None,
}


def evaluate(source: str, variables: dict[str, Any]) -> Any:
    """Run a checked expression program with `variables` bound; returns its last value."""
    tree = parse_expression(source, frozenset(variables))
    scope = {**_CONSTANTS, **variables}
    for statement in tree.body[:-1]:
        if isinstance(statement, ast.Assign):
            value = _eval(statement.value, scope)
            for target in statement.targets:
                scope[target.id] = value  # type: ignore[attr-defined]
        elif isinstance(statement, ast.AugAssign):
            name = statement.target.id  # type: ignore[attr-defined]
            scope[name] = apply_operator(
                type(statement.op), scope[name], _eval(statement.value, scope)
            )
    return _eval(tree.body[-1].value, scope)  # type: ignore[attr-defined]


def _eval(node: ast.expr, scope: dict[str, Any]) -> Any:
    match node:
        case ast.Constant(value=value):
            return value
        case ast.Name(id=name):
            return scope[name]
        case ast.BinOp(left=left, op=op, right=right):
            return apply_operator(type(op), _eval(left, scope), _eval(right, scope))
        case ast.UnaryOp(op=ast.USub(), operand=operand):
            return negate(_eval(operand, scope))
        case ast.UnaryOp(op=ast.UAdd(), operand=operand):
            return +_eval(operand, scope)
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            return jnp.logical_not(_eval(operand, scope))
        case ast.Compare(left=left, ops=[op], comparators=[right]):
            return _COMPARE[type(op)](_eval(left, scope), _eval(right, scope))
        case ast.IfExp(test=test, body=body, orelse=orelse):
            condition = _eval(test, scope)
            if isinstance(condition, bool | int | float | None):  # known now: one branch runs
                return _eval(body if condition else orelse, scope)
            return jnp.where(condition, _eval(body, scope), _eval(orelse, scope))
        case ast.Call(func=func, args=args, keywords=keywords):
            fn = IMPLEMENTATIONS[function_name(func)]  # type: ignore[index]
            kwargs = {k.arg: _eval(k.value, scope) for k in keywords}
            return fn(*[_eval(a, scope) for a in args], **kwargs)
        case ast.Subscript(value=value, slice=index):
            return _eval(value, scope)[_eval(index, scope)]
        case ast.Slice(lower=lo, upper=hi, step=step):
            return slice(*(None if p is None else _eval(p, scope) for p in (lo, hi, step)))
        case ast.Tuple(elts=elts):
            return tuple(_eval(e, scope) for e in elts)
        case ast.List(elts=elts):
            return [_eval(e, scope) for e in elts]
    raise ValueError(f"unsupported expression: {ast.unparse(node)}")
