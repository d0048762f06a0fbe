"""Keras-style node names: `Conv2DTranspose` -> `conv2d_transpose`, then `dense`, `dense_1`, ...

Lives in stage 1 because template blocks are expanded here and need the names an unnamed node
will get; `schemas` (canonical names) and the Python builder use the same rule from here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

NodeKind = tuple[str | None, str | None, str | None]
"""What names a node: its (type, shared node, explicit name)."""


def snake_case(name: str) -> str:
    """Keras' own snake_case rule: `Conv2DTranspose` -> `conv2d_transpose`, `PReLU` -> `p_re_lu`."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def default_names(kinds: list[NodeKind], reserved: Iterable[str] = ()) -> list[str]:
    """Keras-style names for nodes given as (type, shares, name): `dense`, `dense_1`, ...

    Names the user gave (and `reserved` ones, e.g. model inputs) are never reused for an
    unnamed node.
    """
    taken = {name for _, _, name in kinds if name} | set(reserved)
    counts: dict[str, int] = {}
    names = []
    for type_name, shares, name in kinds:
        if name:
            names.append(name)
            continue
        base = f"{shares}_shared" if shares else snake_case(type_name or "layer")
        while True:
            n = counts.get(base, 0)
            counts[base] = n + 1
            candidate = base if n == 0 else f"{base}_{n}"
            if candidate not in taken:
                break
        taken.add(candidate)
        names.append(candidate)
    return names
