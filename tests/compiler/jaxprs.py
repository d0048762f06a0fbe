"""Reading traced programs in tests: which primitives a lowering really emitted."""

from __future__ import annotations

from typing import Any


def equations(jaxpr: Any) -> list[Any]:
    """Every equation of `jaxpr`, and of the jaxprs its equations hold (inner `jit`s,
    `custom_vjp` bodies, scan bodies), in trace order."""
    found = []
    for eqn in jaxpr.eqns:
        found.append(eqn)
        for param in eqn.params.values():
            inner = getattr(param, "jaxpr", None)
            if inner is not None:
                found += equations(getattr(inner, "jaxpr", inner))
    return found
