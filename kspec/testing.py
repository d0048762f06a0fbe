"""Conformance checks for a layer type, built-in or custom: what kspec's own tests run on every
built-in layer, for a plugin author's tests.

    from kspec.testing import Case, Invalid, check_layer

    def test_scale() -> None:
        check_layer(Scale, [Case({"factor": 3.0}, [[4]]), Case({}, [[2, 5]])],
                    invalid=[], reference=lambda spec, params, xs: [xs[0] * spec.factor])

Each check raises `AssertionError` on failure (any test runner works). Imports JAX.
"""

from kspec.compiler.conformance import Case as Case
from kspec.compiler.conformance import Invalid as Invalid
from kspec.compiler.conformance import Reference as Reference
from kspec.compiler.conformance import check_infer_shape as check_infer_shape
from kspec.compiler.conformance import check_invalid as check_invalid
from kspec.compiler.conformance import check_jit as check_jit
from kspec.compiler.conformance import check_layer as check_layer
from kspec.compiler.conformance import check_policy as check_policy
from kspec.compiler.conformance import check_reference as check_reference
from kspec.compiler.conformance import check_round_trip as check_round_trip
