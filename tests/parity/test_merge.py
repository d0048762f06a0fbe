"""Parity of the merge layers with Keras 3: functional two-input models, broadcasting, masks
(Masking on both sides, observed through a mask-aware Softmax), shape errors, Keras 1 Merge."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import pytest

import kspec
from kspec.errors import KspecDeprecationWarning, SpecError
from tests.parity.harness import assert_parity, keras_side, random_input

L = keras.layers


def _functional(
    layer: dict[str, Any],
    keras_layer: Callable[[], Any],
    shapes: list[tuple[int, ...]],
    *,
    masking: bool = False,
    then: str | None = None,
) -> tuple[dict[str, Any], keras.Model]:
    """`x0, x1, ... -> [Masking each] -> merge -> [then]` in kspec and in Keras, `then` a
    mask-aware layer type without parameters (`Softmax`, `GlobalAveragePooling1D`)."""
    names = [f"x{i}" for i in range(len(shapes))]
    spec: dict[str, Any] = {
        "kspec": 1,
        "inputs": {n: {"shape": list(s)} for n, s in zip(names, shapes, strict=True)},
        "layers": [],
    }
    refs = names
    if masking:
        refs = [f"m{i}" for i in range(len(shapes))]
        spec["layers"] += [
            {"type": "Masking", "name": r, "inputs": [n]} for r, n in zip(refs, names, strict=True)
        ]
    spec["layers"].append({**layer, "name": "merged", "inputs": refs})
    if then:
        spec["layers"].append({"type": then})
    with keras_side():
        xs = [keras.Input(s) for s in shapes]
        hs = [L.Masking()(x) for x in xs] if masking else xs
        y = keras_layer()(hs)
        if then:
            y = getattr(L, then)()(y)
        model = keras.Model(xs, y)
    return spec, model


def _inputs(shapes: list[tuple[int, ...]], masked_steps: bool = False) -> list[np.ndarray]:
    """Random inputs; with masked steps the batch is 4, so a (batch, 4) mask is right-aligned
    against (batch, 4, 4) without error in Keras' Softmax."""
    batch = 4 if masked_steps else 5
    xs = [random_input(s, seed=i, batch=batch) for i, s in enumerate(shapes)]
    if masked_steps:  # whole timesteps equal to 0: masked by Masking
        xs[0][0, 1] = 0.0
        xs[0][1, 0] = 0.0
        xs[1][0, 1] = 0.0  # both masked at (0, 1)
        xs[1][2, 3] = 0.0
    return xs


ELEMENTWISE = [
    ("Add", L.Add),
    ("Subtract", L.Subtract),
    ("Multiply", L.Multiply),
    ("Average", L.Average),
    ("Maximum", L.Maximum),
    ("Minimum", L.Minimum),
]
SHAPES = {
    "same": [(3, 4), (3, 4)],
    "broadcast": [(3, 4), (1, 4)],
    "lower_rank": [(3, 4), (4,)],
}


@pytest.mark.parametrize("shapes", list(SHAPES.values()), ids=list(SHAPES))
@pytest.mark.parametrize(("name", "cls"), ELEMENTWISE, ids=[n for n, _ in ELEMENTWISE])
def test_elementwise_merge(name: str, cls: Any, shapes: list[tuple[int, ...]]) -> None:
    spec, model = _functional({"type": name}, cls, shapes)
    assert_parity(spec, model, _inputs(shapes))


@pytest.mark.parametrize(("name", "cls"), [e for e in ELEMENTWISE if e[0] != "Subtract"])
def test_three_inputs(name: str, cls: Any) -> None:
    shapes = [(4,), (4,), (4,)]
    spec, model = _functional({"type": name}, cls, shapes)
    assert_parity(spec, model, _inputs(shapes))


@pytest.mark.parametrize(("name", "cls"), ELEMENTWISE, ids=[n for n, _ in ELEMENTWISE])
def test_elementwise_masks(name: str, cls: Any) -> None:
    """Masked entries as Keras 3 treats them (Multiply: 1; Maximum/Minimum: skipped), and the
    output mask (the OR of the inputs') as the following Softmax sees it."""
    shapes = [(4, 4), (4, 4)]
    spec, model = _functional({"type": name}, cls, shapes, masking=True, then="Softmax")
    assert_parity(spec, model, _inputs(shapes, masked_steps=True))
    spec, model = _functional({"type": name}, cls, shapes, masking=True)
    assert_parity(spec, model, _inputs(shapes, masked_steps=True))


def _masked_apart(count: int) -> list[np.ndarray]:
    """`count` random (4, 4, 4) inputs with masked timesteps (whole steps equal to 0): one
    of its own in each, one masked in all inputs but input i (sample i, step 1), and one in
    all (sample 3, step 0), so every input's mask shapes both the values and the output mask."""
    xs = [random_input((4, 4), seed=i, batch=4) for i in range(count)]
    for i, x in enumerate(xs):
        x[(i + 1) % 4, 2] = 0.0
        x[3, 0] = 0.0
        for other in range(count):
            if other != i:
                x[other, 1] = 0.0
    return xs


MANY_INPUTS = [
    *[(name, cls, {}, 3, "Softmax") for name, cls in ELEMENTWISE if name != "Subtract"],
    ("Subtract", L.Subtract, {}, 2, "Softmax"),
    ("Concatenate", L.Concatenate, {"axis": 1}, 3, "GlobalAveragePooling1D"),
    ("Concatenate", L.Concatenate, {"axis": -1}, 3, "GlobalAveragePooling1D"),
    ("Dot", L.Dot, {"axes": 2}, 2, "Softmax"),
]


@pytest.mark.parametrize(
    ("name", "cls", "params", "count", "then"),
    MANY_INPUTS,
    ids=[f"{n}{p.get('axis', '')}-{c}" for n, _, p, c, _ in MANY_INPUTS],
)
def test_masks_across_many_inputs(name: str, cls: Any, params: dict, count: int, then: str) -> None:
    """Every input masked at different steps: masked values as Keras 3 merges them, and the
    output mask as the mask-aware layer after it sees it (Dot gives none)."""
    shapes = [(4, 4)] * count
    spec, model = _functional(
        {"type": name, **params}, lambda: cls(**params), shapes, masking=True, then=then
    )
    assert_parity(spec, model, _masked_apart(count))


CONCAT = [
    ("last", {"axis": -1}, [(3, 4), (3, 2)]),
    ("axis1", {"axis": 1}, [(2, 4), (3, 4)]),
    ("negative", {"axis": -2}, [(2, 5), (1, 5)]),
    ("three", {}, [(2,), (3,), (1,)]),
]


@pytest.mark.parametrize(("params", "shapes"), [c[1:] for c in CONCAT], ids=[c[0] for c in CONCAT])
def test_concatenate(params: dict[str, Any], shapes: list[tuple[int, ...]]) -> None:
    spec, model = _functional(
        {"type": "Concatenate", **params}, lambda: L.Concatenate(**params), shapes
    )
    assert_parity(spec, model, _inputs(shapes))


@pytest.mark.parametrize("axis", [1, -1])
def test_concatenate_masks(axis: int) -> None:
    """Missing masks are all-true; masks are joined along the axis (time) or OR-ed (last)."""
    shapes = [(2, 4), (2, 4)] if axis == 1 else [(4, 2), (4, 2)]
    with keras_side():
        a, b = keras.Input(shapes[0]), keras.Input(shapes[1])
        y = L.Softmax()(L.Concatenate(axis=axis)([L.Masking()(a), b]))
        model = keras.Model([a, b], y)
    spec = {
        "kspec": 1,
        "inputs": {"a": {"shape": list(shapes[0])}, "b": {"shape": list(shapes[1])}},
        "layers": [
            {"type": "Masking", "inputs": ["a"]},
            {"type": "Concatenate", "axis": axis, "inputs": ["masking", "b"]},
            {"type": "Softmax"},
        ],
    }
    xs = [random_input(s, seed=i, batch=4) for i, s in enumerate(shapes)]
    xs[0][0, 1] = 0.0
    xs[0][2, 0] = 0.0
    assert_parity(spec, model, xs)


DOT = [
    ("vectors", {"axes": 1}, [(4,), (4,)]),
    ("pair", {"axes": [2, 1]}, [(3, 4), (4, 5)]),
    ("negative", {"axes": -1}, [(3, 4), (2, 4)]),
    ("rank_mix", {"axes": [1, 2]}, [(5,), (3, 5)]),
    ("outer_rest", {"axes": 1}, [(3, 4), (3, 5)]),
    ("rank4", {"axes": [3, 1]}, [(2, 3, 4), (4, 2)]),
    ("normalize", {"axes": 1, "normalize": True}, [(4,), (4,)]),
    ("normalize_pair", {"axes": [1, 2], "normalize": True}, [(3, 4), (2, 3)]),
]


@pytest.mark.parametrize(("params", "shapes"), [c[1:] for c in DOT], ids=[c[0] for c in DOT])
def test_dot(params: dict[str, Any], shapes: list[tuple[int, ...]]) -> None:
    axes = params["axes"]
    keras_axes = tuple(axes) if isinstance(axes, list) else axes
    spec, model = _functional(
        {"type": "Dot", **params},
        lambda: L.Dot(axes=keras_axes, normalize=params.get("normalize", False)),
        shapes,
    )
    assert_parity(spec, model, _inputs(shapes))


def test_add_shape_error_is_located_and_names_both_shapes(tmp_path: Any) -> None:
    path = tmp_path / "model.yaml"
    path.write_text(
        "kspec: 1\n"
        "inputs: {a: {shape: [3]}, b: {shape: [4]}}\n"
        "layers:\n"
        "  - {type: Add, inputs: [a, b]}\n"
    )
    with pytest.raises(SpecError) as info:
        kspec.load(path)
    assert str(info.value) == (
        f"{path}:4:5: error: node 'add': Add inputs have incompatible shapes: sizes 3 and 4 "
        "do not broadcast on axis 1. Received: (None, 3), (None, 4)"
    )


MERGE_MODES = [
    ("sum", {}, L.Add, [(3,), (3,)]),
    ("mul", {}, L.Multiply, [(3,), (3,)]),
    ("ave", {}, L.Average, [(3,), (3,)]),
    ("max", {}, L.Maximum, [(3,), (3,)]),
    ("concat", {"concat_axis": 1}, lambda: L.Concatenate(axis=1), [(2, 3), (4, 3)]),
    ("dot", {"dot_axes": [2, 2]}, lambda: L.Dot(axes=(2, 2)), [(2, 3), (4, 3)]),
    ("cos", {"dot_axes": 1}, lambda: L.Dot(axes=1, normalize=True), [(5,), (5,)]),
]


@pytest.mark.parametrize(
    ("mode", "params", "modern", "shapes"), MERGE_MODES, ids=[m[0] for m in MERGE_MODES]
)
def test_keras1_merge_lowers_to_modern_layer(
    mode: str, params: dict[str, Any], modern: Any, shapes: list[tuple[int, ...]]
) -> None:
    spec, model = _functional({"type": "Merge", "mode": mode, **params}, modern, shapes)
    with pytest.warns(KspecDeprecationWarning, match="`Merge` is the Keras 1 merge layer"):
        assert_parity(spec, model, _inputs(shapes))
