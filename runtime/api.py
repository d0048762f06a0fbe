"""The public entry points: `kspec.load`, and `kspec.validate` (runtime/checking.py)."""

from __future__ import annotations

from kspec.compiler import LoweringOptions
from kspec.runtime.checking import Functions, check, validate
from kspec.runtime.model import Model
from kspec.schemas import ModelSpec
from kspec.spec.document import Source

__all__ = ["check", "load", "validate"]


def load(
    source: Source | ModelSpec,
    *,
    functions: Functions | None = None,
    allow_outside_includes: bool | None = None,
    lowering: LoweringOptions | None = None,
) -> Model:
    """Validate and compile a spec into a `Model` (weights are created by `Model.init`).

    `functions` registers Python callables that `Lambda` nodes name with `function:`; a spec
    can never run code on its own. `include:`d files must lie inside the including file's
    directory unless `allow_outside_includes=True`. `lowering` forces the form of the
    per-backend lowering choices (`kspec.LoweringOptions`, docs/performance.md); by default
    each is decided from the backend and the static shapes.
    """
    return Model(check(source, functions, allow_outside_includes, lowering))
