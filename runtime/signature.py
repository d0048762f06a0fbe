"""`signature.json`: what a caller of an exported model needs to know, as plain JSON.

Shapes list sizes as numbers and symbolic dimensions as their names or expressions (`"b"`,
`"s1"`, `"s1 - 2"`). Inputs and outputs keep the model's order; weights and state are listed
in the order `jax` flattens the dicts the function takes and returns (sorted by name).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jax
import jaxlib
import numpy as np
from jax import export as jax_export

import kspec
from kspec.runtime.checkpoint import spec_digest
from kspec.runtime.export_shapes import ArgSpecs
from kspec.schemas.canonical import to_data

if TYPE_CHECKING:
    from kspec.runtime.model import Model

SIGNATURE = "signature.json"
SIGNATURE_FORMAT = 1


def describe(name: str, shape: Any, dtype: Any) -> dict[str, Any]:
    """`{"name", "dtype", "shape"}` with symbolic sizes as strings."""
    return {
        "name": name,
        "dtype": str(np.dtype(dtype)),
        "shape": [d if isinstance(d, int) else str(d) for d in shape],
    }


def signature(
    model: Model,
    exported: jax_export.Exported,
    specs: ArgSpecs,
    weights: dict[str, Any],
    meta: dict[str, Any],
) -> dict[str, Any]:
    """The signature of `exported`; `meta` holds `training`, `weights_baked` and the
    platforms that `failed` to lower."""
    training, baked = meta["training"], meta["weights_baked"]
    results = exported.out_tree.unflatten(exported.out_avals)
    outputs, state = results if training else (results, {})
    spec_data = to_data(model.spec)
    arguments = [*([] if baked else ["weights"]), "inputs", *(["rng"] if training else [])]
    return {
        "format": SIGNATURE_FORMAT,
        "model": model.name,
        "function": "training" if training else "inference",
        "arguments": arguments,
        "results": ["outputs", "state"] if training else ["outputs"],
        "dtype_policy": model.spec.dtype_policy,
        "inputs": [describe(n, a.shape, a.dtype) for n, a in specs.inputs.items()],
        "outputs": [describe(n, outputs[n].shape, outputs[n].dtype) for n in model.output_names],
        "state": [describe(n, a.shape, a.dtype) for n, a in state.items()],
        "rng": describe("rng", (2,), np.uint32) if training else None,
        "weights": [] if baked else [describe(n, np.shape(v), v.dtype) for n, v in weights.items()],
        "weights_baked": baked,
        "weights_file": None if baked else "weights.npz",
        "checkpoint": None if baked else "checkpoint",
        "symbols": specs.symbols,
        "constraints": specs.constraints,
        "spec_sha256": spec_digest(spec_data),
        "kspec_version": kspec.__version__,
        "jax_version": jax.__version__,
        "jaxlib_version": jaxlib.__version__,
        "platforms": list(exported.platforms),
        "platforms_failed": meta["failed"],
        "calling_convention_version": exported.calling_convention_version,
    }


def write_signature(directory: Path, data: dict[str, Any]) -> None:
    (directory / SIGNATURE).write_text(json.dumps(data, indent=2) + "\n")


def read_signature(directory: Path) -> dict[str, Any]:
    return json.loads((directory / SIGNATURE).read_text())
