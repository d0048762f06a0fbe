"""Operations recorded as layers: Keras 3 op nodes (`x + y` -> `Add`, `x[:, 0]` -> `GetItem`,
`ops.mean` -> `Mean`, module `keras.src.ops.*`) and tf.keras's `TFOpLambda` /
`SlicingOpLambda` (`tf.math.add`, `x[:, 0]`).

Each known op becomes a kspec merge layer (tensors only: `Add`, `Subtract`, `Multiply`,
`Maximum`, `Minimum`, `Concatenate`) or a `Lambda` whose `expression` is the op written in
kspec's safe expression language; an unknown op is refused by name. Nothing is evaluated here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kspec.spec.keras.nodes import Call, Ref, Slice


class UnknownOp(Exception):
    """An op kspec has no translation for; the message names it."""


@dataclass(frozen=True)
class Op:
    """`function(tensor, *positional, **keywords)` in a kspec expression. `positional` and
    `keywords` name where the op's parameters come from (its config, or the call's keyword
    arguments for tf ops) and, for keywords, the expression's keyword (`perm` -> `axes`)."""

    function: str
    positional: tuple[str, ...] = ()
    keywords: dict[str, str] = field(default_factory=dict)


OPERATORS = {
    "Add": "+", "Subtract": "-", "Multiply": "*", "Divide": "/", "TrueDivide": "/",
    "FloorDivide": "//", "Mod": "%", "Power": "**", "Matmul": "@",
}  # fmt: skip
"""Keras 3 binary ops written as Python operators."""

MERGE_LAYERS = {
    "Add": "Add", "Subtract": "Subtract", "Multiply": "Multiply", "Maximum": "Maximum",
    "Minimum": "Minimum",
}  # fmt: skip
"""Keras 3 ops that are a kspec merge layer when every argument is a tensor."""

_AXIS = {"axis": "axis"}
_REDUCE = {"axis": "axis", "keepdims": "keepdims"}

KERAS3_OPS: dict[str, Op] = {
    **{n: Op(n.lower()) for n in ("Abs", "Exp", "Log", "Log1p", "Sqrt", "Square", "Tanh",
                                  "Sign", "Floor", "Ceil", "Round", "Sin", "Cos", "Erf", "Relu",
                                  "Relu6", "Sigmoid", "Softplus", "Softsign", "Silu", "Selu",
                                  "Elu")},
    **{n: Op(n.lower(), keywords=_REDUCE) for n in ("Mean", "Sum", "Max", "Min", "Prod", "Std",
                                                    "Var")},
    "Argmax": Op("argmax", keywords=_AXIS), "Argmin": Op("argmin", keywords=_AXIS),
    "Maximum": Op("maximum"), "Minimum": Op("minimum"), "Where": Op("where"),
    "Concatenate": Op("concatenate", keywords=_AXIS), "Stack": Op("stack", keywords=_AXIS),
    "ExpandDims": Op("expand_dims", keywords=_AXIS), "Squeeze": Op("squeeze", keywords=_AXIS),
    "Reshape": Op("reshape", positional=("newshape",)),
    "Transpose": Op("transpose", keywords={"axes": "axes"}),
    "Clip": Op("clip", positional=("x_min", "x_max")), "Cast": Op("cast", positional=("dtype",)),
    "Softmax": Op("softmax", keywords=_AXIS), "LogSoftmax": Op("log_softmax", keywords=_AXIS),
    "LeakyRelu": Op("leaky_relu", keywords={"negative_slope": "negative_slope"}),
    "HardSigmoid": Op("hard_sigmoid"), "Gelu": Op("gelu"),
    "Negative": Op("-"),
}  # fmt: skip
"""Keras 3 op classes (`keras/src/ops/numpy.py`, `nn.py`) and their kspec expression."""
OP_CLASSES = frozenset({*KERAS3_OPS, *OPERATORS, *MERGE_LAYERS, "GetItem"})
"""Every Keras 3 op class this module translates."""

TF_OPERATORS = {
    "math.add": "+", "__operators__.add": "+", "math.subtract": "-", "math.multiply": "*",
    "math.truediv": "/", "math.divide": "/", "math.pow": "**", "linalg.matmul": "@",
    "math.floordiv": "//",
}  # fmt: skip
"""tf.keras `TFOpLambda` functions that are Python operators on `x` and the keyword `y`."""

_TF_REDUCE = {"axis": "axis", "keepdims": "keepdims"}
TF_OPS: dict[str, Op] = {
    **{f"math.{n}": Op(n) for n in ("abs", "exp", "log", "log1p", "sqrt", "square", "tanh",
                                    "sign", "floor", "ceil", "round", "sin", "cos", "erf",
                                    "sigmoid")},
    **{f"math.reduce_{n}": Op(n, keywords=_TF_REDUCE) for n in ("mean", "sum", "max", "min",
                                                                "prod", "std")},
    "math.reduce_variance": Op("var", keywords=_TF_REDUCE),
    "math.maximum": Op("maximum", positional=("y",)),
    "math.minimum": Op("minimum", positional=("y",)),
    "math.negative": Op("-"),
    "nn.relu": Op("relu"), "nn.relu6": Op("relu6"), "nn.sigmoid": Op("sigmoid"),
    "nn.softmax": Op("softmax", keywords={"axis": "axis"}),
    "nn.silu": Op("silu"), "nn.elu": Op("elu"), "nn.selu": Op("selu"),
    "reshape": Op("reshape", positional=("shape",)),
    "concat": Op("concatenate", keywords={"axis": "axis"}),
    "stack": Op("stack", keywords={"axis": "axis"}),
    "expand_dims": Op("expand_dims", keywords={"axis": "axis"}),
    "squeeze": Op("squeeze", keywords={"axis": "axis"}),
    "compat.v1.squeeze": Op("squeeze", keywords={"axis": "axis"}),
    "transpose": Op("transpose", keywords={"perm": "axes"}),
    "compat.v1.transpose": Op("transpose", keywords={"perm": "axes"}),
    "cast": Op("cast", positional=("dtype",)),
    "clip_by_value": Op("clip", positional=("clip_value_min", "clip_value_max")),
}  # fmt: skip
"""tf.keras `TFOpLambda` functions (`tf.<function>`) and their kspec expression."""

IGNORED_OP_KEYS = ("name", "trainable", "dtype")


def keras3_op(class_name: str, config: dict[str, Any], call: Call) -> dict[str, Any]:
    """The kspec node (without name and inputs) of a Keras 3 op layer."""
    params = {k: v for k, v in config.items() if k not in IGNORED_OP_KEYS}
    tensors_only = all(isinstance(a, Ref) for a in _flat(call.args)) and not call.kwargs
    if class_name in MERGE_LAYERS and tensors_only and not params:
        return {"type": MERGE_LAYERS[class_name]}
    if class_name == "Concatenate" and tensors_only and params.get("axis", 0) != 0:
        return {"type": "Concatenate", "axis": params["axis"]}
    names = _Names(call)
    if class_name == "GetItem" and len(call.args) == 2:
        return _lambda(f"{names.of(call.args[0])}[{_index(call.args[1], names)}]")
    if class_name in OPERATORS and len(call.args) == 2 and not params:
        a, b = (names.of(arg) for arg in call.args)
        return _lambda(f"{a} {OPERATORS[class_name]} {b}")
    if class_name in KERAS3_OPS:
        return _lambda(_render(KERAS3_OPS[class_name], call.args, params, names, class_name))
    raise UnknownOp(f"Keras op `{class_name}`")


def tf_op(function: str, call: Call, slicing: bool) -> dict[str, Any]:
    """The kspec node of a tf.keras `TFOpLambda` (`function` as `tf.<function>` names it) or
    `SlicingOpLambda` (`__operators__.getitem`)."""
    names = _Names(call)
    kwargs = {k: v for k, v in call.kwargs.items() if k != "name"}
    if slicing or function == "__operators__.getitem":
        if "slice_spec" not in kwargs or len(call.args) != 1:
            raise UnknownOp(f"TF op `tf.{function}` without a slice_spec")
        return _lambda(f"{names.of(call.args[0])}[{_index(kwargs['slice_spec'], names)}]")
    if function in TF_OPERATORS and set(kwargs) == {"y"} and len(call.args) == 1:
        a, b = names.of(call.args[0]), names.of(kwargs["y"])
        return _lambda(f"{a} {TF_OPERATORS[function]} {b}")
    if function in TF_OPS and len(call.args) == 1:
        return _lambda(_render(TF_OPS[function], call.args, kwargs, names, f"tf.{function}"))
    raise UnknownOp(f"TF op `tf.{function}`")


def _lambda(expression: str) -> dict[str, Any]:
    return {"type": "Lambda", "expression": expression}


def _render(op: Op, args: tuple[Any, ...], params: dict[str, Any], names: _Names, what: str) -> str:
    unknown = set(params) - set(op.positional) - set(op.keywords)
    if unknown:
        raise UnknownOp(f"{what} with parameters {sorted(unknown)}")
    parts = [names.of(a) for a in args]
    parts += [names.of(params[p]) for p in op.positional if p in params]
    parts += [f"{op.keywords[k]}={names.of(v)}" for k, v in params.items() if k in op.keywords]
    if op.function == "-":
        return f"-{parts[0]}"
    return f"{op.function}({', '.join(parts)})"


def _index(key: Any, names: _Names) -> str:
    items = key if isinstance(key, list | tuple) else [key]
    parts = [_index_item(item, names) for item in items]
    return ", ".join(parts) + ("," if len(parts) == 1 and isinstance(key, list | tuple) else "")


def _index_item(item: Any, names: _Names) -> str:
    if isinstance(item, Slice):
        ends = ["" if v is None else names.of(v) for v in (item.start, item.stop, item.step)]
        return ":".join(ends[:2]) if item.step is None else ":".join(ends)
    return names.of(item)


def _flat(tree: Any) -> list[Any]:
    if isinstance(tree, list | tuple):
        return [leaf for item in tree for leaf in _flat(item)]
    return [tree]


class _Names:
    """Expression names of a call's tensors: `x` for one, `x0`, `x1`, ... for several (the
    order of `Call.tensors()`, each tensor once); constants written as literals."""

    def __init__(self, call: Call) -> None:
        refs = list(dict.fromkeys(call.tensors()))
        self.refs = refs
        self.names = {r: "x" if len(refs) == 1 else f"x{i}" for i, r in enumerate(refs)}

    def of(self, value: Any) -> str:
        if isinstance(value, Ref):
            return self.names[value]
        if isinstance(value, list | tuple):
            inner = ", ".join(self.of(v) for v in value)
            return f"[{inner}]" if isinstance(value, list) else f"({inner},)"
        if value is None or isinstance(value, bool | int | float):
            return repr(value)
        if isinstance(value, str) and value.isidentifier():
            return repr(value)
        raise UnknownOp(f"constant {value!r}")
