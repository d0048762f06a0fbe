"""Conformance of every layer over the registry: schema <-> lowering, shapes vs `jax.eval_shape`,
jit vs no-jit, spec round trip, shape errors that are `ShapeError`s, never raw JAX errors, and
per family a few outputs against a reference (Keras 3, else NumPy).

A new layer family extends `CASES` (valid params and input shapes), `INVALID` (shapes it must
reject) and `REFERENCES` (cases checked by value); `test_every_layer_type_has_cases` and
`test_every_family_has_reference_rows` fail until it does. The checks themselves live in
`kspec.compiler.conformance`, which plugin authors run on custom layers through `kspec.testing`.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import pytest

from kspec.compiler.compile import compile_model, lowering_of
from kspec.compiler.conformance import (
    check_infer_shape,
    check_invalid,
    check_jit,
    check_policy,
    check_reference,
    check_round_trip,
    layer_spec,
)
from kspec.compiler.lowering import BuildEnv, format_shape
from kspec.compiler.registry import all_lowerings, registered
from kspec.errors import ShapeError, SpecError
from kspec.schemas import layer_types
from tests import conformance
from tests.conformance.cases import Case, Invalid, KerasReference, NumpyReference
from tests.conformance.keras_reference import check_against_keras

# Keras 1 layer types (`Merge`) warn on every load; the warning itself is tested with the layer.
pytestmark = pytest.mark.filterwarnings("ignore::kspec.errors.KspecDeprecationWarning")


Row = KerasReference | NumpyReference
FAMILIES = {
    info.name: importlib.import_module(f"tests.conformance.{info.name}")
    for info in pkgutil.iter_modules(conformance.__path__)
    if info.name not in ("cases", "keras_reference")
}
"""Every table module of tests/conformance/: one layer family each."""


def _collect() -> tuple[dict[str, list[Case]], dict[str, list[Invalid]], list[Row]]:
    """Merge the tables of every family."""
    cases: dict[str, list[Case]] = {}
    invalid: dict[str, list[Invalid]] = {}
    references: list[Row] = []
    for module in FAMILIES.values():
        cases |= module.CASES
        invalid |= module.INVALID
        references += module.REFERENCES
    return cases, invalid, references


CASES, INVALID, REFERENCES = _collect()


def _ids(table: dict[str, list[Any]]) -> list[tuple[str, Any]]:
    return [
        pytest.param(t, c, id=f"{t}-{c.id or i}")
        for t, cases in table.items()
        for i, c in enumerate(cases)
    ]


# Registry -----------------------------------------------------------------------------------------


def test_every_schema_has_exactly_one_lowering() -> None:
    lowerings = all_lowerings()
    assert set(lowerings) == set(layer_types())
    assert all(lowering.spec_type is cls for cls, lowering in lowerings.items())
    # found where `registered` looks: the compiler module named as the schema's family
    assert all(registered(cls) is lowerings[cls] for cls in layer_types())


def test_every_layer_type_has_cases() -> None:
    names = {cls.__name__ for cls in layer_types()}
    assert set(CASES) == names, "add conformance cases for each new layer type"
    assert set(INVALID) == names, "add invalid-shape cases (or an empty list) for each type"
    assert all(len(CASES[n]) >= 2 for n in names)


def test_every_family_has_reference_rows() -> None:
    """Each family checks some outputs by value, on cases of its own table (not new ones)."""
    assert [name for name, module in FAMILIES.items() if not module.REFERENCES] == []
    for row in REFERENCES:
        assert row.case in CASES[row.type_name], row


# Each case: the checks plugin authors run too (kspec.testing) ---------------------------------


@pytest.mark.parametrize(("type_name", "case"), _ids(CASES))
def test_infer_shape_matches_eval_shape(type_name: str, case: Case) -> None:
    check_infer_shape(type_name, case)


JIT_CASES = {
    t: [c for i, c in enumerate(cases) if i == 0 or c.training] for t, cases in CASES.items()
}
"""Eager apply compiles every primitive on its own (most of this file's time when every case ran):
one case per layer type, and every training-mode case. The other cases trace under
`eval_shape` above and are applied under jit by the reference rows."""


@pytest.mark.parametrize(("type_name", "case"), _ids(JIT_CASES))
def test_jit_equals_no_jit(type_name: str, case: Case) -> None:
    check_jit(type_name, case)


@pytest.mark.parametrize(("type_name", "case"), _ids(CASES))
def test_spec_round_trip(type_name: str, case: Case) -> None:
    check_round_trip(type_name, case)


@pytest.mark.parametrize(("type_name", "case"), _ids(CASES))
def test_mixed_bfloat16_dtypes(type_name: str, case: Case) -> None:
    check_policy(type_name, case)


@pytest.mark.parametrize(("type_name", "case"), _ids(INVALID))
def test_invalid_shapes_raise_shape_error(type_name: str, case: Invalid) -> None:
    check_invalid(type_name, case)


TAKES_MORE = {
    "Bidirectional": "initial states of both directions",
    "ConvLSTM2D": "initial states",
    "GRU": "an initial state",
    "LSTM": "initial states",
    "SimpleRNN": "an initial state",
    "Lambda": "any inputs its expression reads",
    "Model": "the sub-model's own inputs",
    "ReversibleEmbedding": "`inputs` or `reverse`",
    "Softmax": "a mask",
    "TransformerDecoder": "an encoder sequence",
    "TransformerEncoder": "a padding mask",
}
"""One-input cases of layers whose further inputs mean something: their own errors say what."""


@pytest.mark.parametrize(
    "type_name",
    sorted(
        t
        for t, cases in CASES.items()
        if t not in TAKES_MORE and any(len(case.shapes) == 1 for case in cases)
    ),
)
def test_a_one_input_layer_given_two_names_itself(type_name: str) -> None:
    """The arity error names the layer by its type (one source: the schema class), at the
    shape rule and in the compiled model's diagnostic."""
    case = next(case for case in CASES[type_name] if len(case.shapes) == 1)
    spec = layer_spec(type_name, case.params, case.shapes * 2)
    node = spec.layers[0]
    expected = f"{type_name} takes 1 input(s). Received: 2 inputs"
    with pytest.raises(ShapeError) as raised:
        lowering_of(node).infer_shape(node, [(None, *case.shapes[0])] * 2, BuildEnv())
    assert [d.message for d in raised.value.diagnostics] == [expected]
    with pytest.raises(SpecError) as compiled:
        compile_model(spec)
    (diagnostic,) = compiled.value.diagnostics
    shape = format_shape((None, *case.shapes[0]))
    in_context = f"{expected} (input shapes: {shape}, {shape})"
    assert (diagnostic.node, diagnostic.message) == (node.name, in_context)


def _reference_ids() -> list[Any]:
    def name(row: Row) -> str:
        index = row.case.id or CASES[row.type_name].index(row.case)
        return f"{row.type_name}-{index}-{'keras' if isinstance(row, KerasReference) else 'numpy'}"

    return [pytest.param(row, id=name(row)) for row in REFERENCES]


@pytest.mark.parametrize("row", _reference_ids())
def test_outputs_match_the_reference(row: Row) -> None:
    if isinstance(row, KerasReference):
        check_against_keras(row)
    else:
        check_reference(row.type_name, row.case, row.reference)
