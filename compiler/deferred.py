"""JAX, imported on first use rather than when the compiler is imported.

`kspec validate` runs the whole compiler front half (graph, sub-models, shape inference) and
never touches an array, so it must not pay the second that importing JAX costs. Compiler
modules therefore take `jax`, `jnp`, `lax` and `np` from here: each is a stand-in that imports the
real module the first time an attribute is read (a lowering's init or apply, never its shape
rule), then caches what it read. Type checkers see the real modules. Module-level work that
needs JAX (registering pytree types) is queued with `when_imported`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

_pending: list[Callable[[], None]] = []


def when_imported(action: Callable[[], None]) -> None:
    """Run `action` (registering a pytree type, say) once JAX is imported: now if it is,
    else right after the first deferred attribute read imports it."""
    if "jax" in sys.modules:
        action()
    else:
        _pending.append(action)


def _imported(name: str) -> ModuleType:
    module = importlib.import_module(name)
    while _pending:
        _pending.pop(0)()
    return module


class Deferred:
    """A module imported when one of its attributes is first read."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):  # copy/pickle/inspect probing: not a JAX attribute
            raise AttributeError(attribute)
        module = _imported(self._name)
        value = getattr(module, attribute)
        setattr(self, attribute, value)  # later reads skip __getattr__
        return value

    def __repr__(self) -> str:
        return f"<deferred module {self._name!r}>"


if TYPE_CHECKING:
    import jax as jax
    import jax.numpy as jnp
    import numpy as np
    from jax import lax as lax

    Array = jax.Array
else:
    jax = Deferred("jax")
    jnp = Deferred("jax.numpy")
    lax = Deferred("jax.lax")
    np = Deferred("numpy")  # a third of validate's time otherwise; JAX imports it anyway
    Array = Any  # for annotations: naming `jax.Array` here would import JAX
