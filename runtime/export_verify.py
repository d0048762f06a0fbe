"""The export's verify step: read the written artifact back and check it against kspec.

It runs at two batch sizes (1 and 3; one when the batch is fixed) and, for `null`
dimensions, two lengths (8 and 13 steps more than the least size minus one), on seeded
random inputs: inference against
`Model.predict`, training against the jitted train-mode apply with the same rng (outputs and
updated state). Floats must agree to rtol 1e-5 (atol 1e-6; rtol 1e-2 for 16-bit floats),
integers exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import export as jax_export

from kspec.errors import ExportError
from kspec.runtime.export_shapes import ArgSpecs, concrete_shapes, weight_names

if TYPE_CHECKING:
    from kspec.runtime.model import Model

BATCHES = (1, 3)
LENGTHS = (8, 13)


def verify_export(directory: Path, model: Model, specs: ArgSpecs, training: bool) -> None:
    """Raise `ExportError` naming the first output that differs from kspec's own result."""
    exported = jax_export.deserialize(bytearray((directory / "model.jax").read_bytes()))
    weights = _weights(directory)
    batches = BATCHES if specs.batch is None else (specs.batch,)
    lengths = LENGTHS if specs.lengths else (LENGTHS[0],)
    for trial, (batch, length) in enumerate(_trials(batches, lengths)):
        shapes = concrete_shapes(specs, batch, length)
        inputs = {  # a seed per input: equal inputs would hide a siamese model's weights
            n: sample(s, specs.inputs[n].dtype, 1000 * trial + i)
            for i, (n, s) in enumerate(shapes.items())
        }
        where = f"batch {batch}" + "".join(
            f", {s}={specs.least[s] - 1 + length}" for s in specs.lengths
        )
        seed = trial if training else None
        got = _run_artifact(exported, weights, inputs, seed, where)
        compare(got, _kspec_results(model, inputs, seed), where)


def _run_artifact(
    exported: jax_export.Exported,
    weights: tuple[Any, ...],
    inputs: dict[str, np.ndarray],
    seed: int | None,
    where: str,
) -> dict[str, Any]:
    """The artifact's results as `{"outputs": ..., "state": ...}` (`seed`: the rng seed of a
    training export, None for inference); a failure to run is an `ExportError`."""
    try:
        if seed is None:
            return {"outputs": exported.call(*weights, inputs)}
        results = exported.call(*weights, inputs, jax.random.PRNGKey(seed))
    except Exception as exc:  # jax raises many types for a program that does not run
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ExportError(
            f"verification failed at {where}: the artifact did not run "
            f"({type(exc).__name__}: {message})"
        ) from None
    return dict(zip(("outputs", "state"), results, strict=True))


def _kspec_results(model: Model, inputs: dict[str, np.ndarray], seed: int | None) -> dict[str, Any]:
    """What kspec computes for the same call: `predict`, or the train-mode apply."""
    if seed is None:
        return {"outputs": _predict(model, inputs, len(next(iter(inputs.values()))))}
    outputs, state = _train_apply(model, inputs, jax.random.PRNGKey(seed))
    return {"outputs": outputs, "state": state}


def _trials(batches: tuple[int, ...], lengths: tuple[int, ...]) -> list[tuple[int, int]]:
    """Pairs covering every batch size and every length (not their product)."""
    count = max(len(batches), len(lengths))
    return [(batches[i % len(batches)], lengths[i % len(lengths)]) for i in range(count)]


def _weights(directory: Path) -> tuple[Any, ...]:
    """The `weights` argument as a kspec-free caller builds it, or none when baked."""
    path = directory / "weights.npz"
    if not path.is_file():
        return ()
    described = json.loads((directory / "signature.json").read_text())["weights"]
    with np.load(path) as stored:  # bfloat16 comes back as raw records: view it (docs/export.md)
        return ({w["name"]: stored[w["name"]].view(jnp.dtype(w["dtype"])) for w in described},)


def sample(shape: tuple[int, ...], dtype: Any, seed: int) -> np.ndarray:
    """Seeded inputs: normal floats; small non-negative integers (valid token ids)."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        return rng.integers(0, 8, size=shape).astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    return rng.normal(size=shape).astype(dtype)


def _predict(model: Model, inputs: dict[str, np.ndarray], batch: int) -> dict[str, Any]:
    results = model.predict(inputs, batch_size=batch)
    results = results if isinstance(results, list) else [results]
    return dict(zip(model.output_names, results, strict=True))


def _train_apply(model: Model, inputs: dict[str, np.ndarray], rng: Any) -> tuple[Any, Any]:
    """kspec's train-mode outputs and updated state, named as the export names them."""
    outputs, aux = jax.jit(lambda v, x, r: model.compiled.apply(v, x, training=True, rng=r))(
        model.variables, inputs, rng
    )
    state = {"state": aux.state}
    named_state = dict(zip(weight_names(state)[0], jax.tree.leaves(state), strict=True))
    return dict(zip(model.output_names, outputs, strict=True)), named_state


def compare(got: Any, want: Any, where: str) -> None:
    """Raise `ExportError` at the first leaf (by name) that differs beyond the tolerance."""
    got_leaves = jax.tree_util.tree_flatten_with_path(got)[0]
    want_leaves = jax.tree_util.tree_flatten_with_path(want)[0]
    if [p for p, _ in got_leaves] != [p for p, _ in want_leaves]:
        raise ExportError(
            f"verification failed at {where}: the artifact's results are not named "
            "as the model's outputs"
        )
    for (path, g), (_, w) in zip(got_leaves, want_leaves, strict=True):
        name = "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)
        g, w = np.asarray(g), np.asarray(w)
        if g.shape != w.shape:
            raise ExportError(
                f"verification failed at {where}: '{name}' has shape {g.shape}, "
                f"kspec gives {w.shape}"
            )
        if not _close(g, w):
            diff = np.max(np.abs(g.astype(np.complex128) - w.astype(np.complex128)))
            raise ExportError(
                f"verification failed at {where}: '{name}' differs from kspec's result by up "
                f"to {diff:.3g} (rtol {_rtol(w.dtype):g})"
            )


def _rtol(dtype: np.dtype) -> float:
    return 1e-2 if dtype.itemsize < 4 else 1e-5


def _close(got: np.ndarray, want: np.ndarray) -> bool:
    if not jnp.issubdtype(want.dtype, jnp.inexact):
        return bool(np.array_equal(got, want))
    rtol = _rtol(want.dtype)
    got, want = got.astype(np.complex128), want.astype(np.complex128)  # bfloat16 included
    return bool(np.allclose(got, want, rtol=rtol, atol=1e-6, equal_nan=True))
