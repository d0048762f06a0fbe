"""Keras names in a `compile:` section: class names (`"Adam"`, `"SparseCategoricalCrossentropy"`,
`"MeanAbsoluteError"`) read as the function names they stand for, and the checks `validate`
runs on it beyond pydantic: every metric name, and the output names that `loss:`,
`loss_weights:` and `metrics:` mappings use. JAX-free; the runtime implements each name.
"""

from __future__ import annotations

import difflib
from typing import Any, get_args

from kspec.schemas.graph import GraphProblem
from kspec.schemas.training import METRIC_OPTIONS, LossName, OptimizerName
from kspec.spec.names import snake_case

METRIC_FUNCTIONS = (
    "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
    "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy",
    "root_mean_squared_error", "pearson_correlation", "concordance_correlation",
)  # fmt: skip
METRIC_NAMES = frozenset(
    [
        *METRIC_FUNCTIONS,
        *get_args(LossName),
        *METRIC_OPTIONS,
        "accuracy",
        "acc",
        "precision",
        "recall",
    ]
)
"""Every metric name the runtime computes (runtime/training/metrics.py; a test checks both)."""

CLASS_NAMES = {
    "IoU": "iou",
    "BinaryIoU": "binary_iou",
    "MeanIoU": "mean_iou",
    "OneHotIoU": "one_hot_iou",
    "OneHotMeanIoU": "one_hot_mean_iou",
    "FBetaScore": "fbeta_score",
    "LogCoshError": "log_cosh",
}
"""Keras class names whose function name is not their snake_case."""

NOT_THE_SAME = frozenset({"Accuracy"})
"""Class names whose snake_case is a name with another meaning: Keras' `Accuracy` class is
exact-match accuracy (so it is here), while the string "accuracy" picks binary or categorical
accuracy from the shapes."""

REFUSED: dict[str, str] = {
    "lossscaleoptimizer": "kspec scales the loss itself: a mixed_float16 model trains behind "
    "Keras' dynamic loss scale, `compile(auto_scale_loss=False)` turns it off (docs/precision.md)",
    "multioptimizer": "a kspec model has one optimizer; for one per group of weights pass "
    "`optax.multi_transform(...)` to `compile(optimizer=...)` in Python",
    "optimizermap": "a kspec model has one optimizer; for one per group of weights pass "
    "`optax.multi_transform(...)` to `compile(optimizer=...)` in Python",
    "muon": "not implemented (Keras' Muon picks weights by layer name and shape heuristics); "
    "pass `optax.contrib.muon(...)` to `compile(optimizer=...)` in Python",
    "schedulefreeadamw": "not implemented: it evaluates at weights other than the ones it "
    "trains (Keras swaps them in), which kspec's fit/evaluate do not do",
    "mean": "Keras' Mean averages the values passed to it, not (y_true, y_pred); name a loss "
    "or metric function instead, or pass a callable in Python",
    "sum": "Keras' Sum adds the values passed to it, not (y_true, y_pred); name a loss or "
    "metric function instead, or pass a callable in Python",
    "meanmetricwrapper": "it wraps a function: pass the callable `(y_true, y_pred)` itself as "
    "a metric in Python",
}
"""Keras 3 names kspec refuses, and why (keyed by the name lower-cased, without `_`)."""


def refusal(name: Any) -> str | None:
    """Why kspec refuses Keras name `name` (`"Muon"`, `"LossScaleOptimizer"`), or None."""
    if not isinstance(name, str):
        return None
    reason = REFUSED.get(name.replace("_", "").lower())
    return f"'{name}' is not available in kspec: {reason}" if reason else None


def function_name(name: str, known: frozenset[str] | tuple[str, ...]) -> str:
    """`name`, or the function name a Keras class name stands for when that is known."""
    if name in known or name in NOT_THE_SAME:
        return name
    if CLASS_NAMES.get(name) in known:
        return CLASS_NAMES[name]
    for candidate in (snake_case(name), name.lower()):  # `AdamW`, `RMSprop`, `SGD`: lower
        if candidate in known:
            return candidate
    return name


def is_metric_name(name: str) -> bool:
    """Whether the runtime computes metric `name` (any case, class names included)."""
    return function_name(name, METRIC_NAMES).lower() in METRIC_NAMES


def options_needed(name: str) -> str | None:
    """What metric `name` lacks when given by name alone (`MeanIoU` needs `num_classes`)."""
    key = function_name(name, METRIC_NAMES).lower()
    required = METRIC_OPTIONS[key][0] if key in METRIC_OPTIONS else ()
    if not required:
        return None
    example = ", ".join(f"{option}: ..." for option in required)
    why = WHY_REQUIRED.get(required[0], "")
    return f"metric '{name}' needs {', '.join(required)}{why}: write {{type: {name}, {example}}}"


WHY_REQUIRED = {
    "average": " (micro, macro or weighted: Keras' default, None, gives one value per class, "
    "and kspec logs scalars)"
}


OPTIMIZERS = frozenset(get_args(OptimizerName))
LOSSES = frozenset(get_args(LossName))


def canonical_compile(data: Any) -> Any:
    """A `compile:` mapping with class names replaced by function names (before pydantic)."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    optimizer = data.get("optimizer")
    if isinstance(optimizer, str):
        data["optimizer"] = function_name(optimizer, OPTIMIZERS)
    elif isinstance(optimizer, dict) and isinstance(optimizer.get("type"), str):
        data["optimizer"] = {**optimizer, "type": function_name(optimizer["type"], OPTIMIZERS)}
    data["loss"] = _each(data.get("loss"), _loss)
    for field in ("metrics", "weighted_metrics"):
        if field in data:
            data[field] = _each(data[field], lambda m: _each(m, _metric))
    return data


def _loss(value: Any) -> Any:
    if isinstance(value, str):
        return function_name(value, LOSSES)
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        return {**value, "type": function_name(value["type"], LOSSES)}
    return value


def _metric(value: Any) -> Any:
    """Mapping types only: a name stays as given (`compile_problems` checks it, and it is the
    History key)."""
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        return {**value, "type": function_name(value["type"], METRIC_NAMES).lower()}
    return value


def _each(value: Any, fn: Any) -> Any:
    if isinstance(value, list):
        return [fn(v) for v in value]
    if isinstance(value, dict) and "type" not in value:
        return {k: fn(v) for k, v in value.items()}
    return fn(value)


def compile_problems(data: Any, outputs: list[str]) -> list[GraphProblem]:
    """Unknown metric names, and mapping keys naming no output, in a `compile:` section's
    plain data (each located at its entry). `outputs` are the model's output names."""
    if not isinstance(data, dict):
        return []
    problems: list[GraphProblem] = []
    known = set(outputs)
    for field in ("loss", "loss_weights", "metrics", "weighted_metrics"):
        value = data.get(field)
        if isinstance(value, dict) and "type" not in value:
            for key in value:  # `encoder:1` names one output of a multi-output node
                if key not in known and str(key).rpartition(":")[0] not in known:
                    problems.append(GraphProblem(
                        f"`compile.{field}` names '{key}', which is not an output"
                        f"{_hint(str(key), known)}; outputs: {', '.join(outputs)}",
                        ("compile", field, key), at_key=True,
                    ))  # fmt: skip
        if field in ("metrics", "weighted_metrics"):
            problems += _metric_problems(field, value)
    return problems


def _metric_problems(field: str, value: Any) -> list[GraphProblem]:
    entries: list[tuple[tuple[Any, ...], Any]] = []
    if isinstance(value, list):
        entries = [((i,), m) for i, m in enumerate(value)]
    elif isinstance(value, dict):
        entries = [((k, i), m) for k, ms in value.items() if isinstance(ms, list)
                   for i, m in enumerate(ms)]  # fmt: skip
    problems = []
    for where, metric in entries:
        if isinstance(metric, str) and not is_metric_name(metric):
            problems.append(GraphProblem(
                f"`compile.{field}`: " + (refusal(metric)
                    or f"unknown metric '{metric}'{_hint(metric, METRIC_NAMES)}"),
                ("compile", field, *where),
            ))  # fmt: skip
        elif isinstance(metric, str) and (needs := options_needed(metric)):
            problems.append(GraphProblem(f"`compile.{field}`: {needs}", ("compile", field, *where)))
    return problems


def _hint(name: str, known: set[str] | frozenset[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
