"""Export time and artifact size for every bundled example.

Per example: `kspec.export` (trace, lower for the default platforms, serialize; no verify
step) with weights as arguments and with weights baked in, against the baseline measured in
the same run: AOT-compiling the same apply for one concrete batch (what `kspec build` does).
Sizes: `model.jax` with weights as arguments, `weights.npz`, and `model.jax` baked.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

import kspec

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.yaml"))
BATCH = 32


def compile_seconds(model: kspec.Model) -> float:
    """AOT compile of the inference apply at batch `BATCH` (the baseline)."""
    inputs = {
        name: jax.ShapeDtypeStruct(
            (BATCH, *(8 if d is None else d for d in spec.shape)), spec.dtype
        )
        for name, spec in model.spec.inputs.items()
    }
    started = time.perf_counter()
    fn = jax.jit(lambda v, x: model.compiled.apply(v, x)[0])
    fn.lower(model.variables, inputs).compile()
    return time.perf_counter() - started


def measure(path: Path, out: Path) -> dict[str, Any]:
    model = kspec.load(path)
    model.init(0)
    args = kspec.export(model, out / "args", verify=False)
    baked = kspec.export(model, out / "baked", verify=False, bake_weights=True)
    compiled = compile_seconds(model)
    return {
        "example": path.stem,
        "export_s": args.export_seconds,
        "bake_s": baked.export_seconds,
        "compile_s": compiled,
        "ratio": args.export_seconds / compiled,
        "model_jax": args.files["model.jax"],
        "weights": args.files["weights.npz"],
        "baked_jax": baked.files["model.jax"],
        "platforms": ",".join(args.platforms),
    }


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        return [measure(path, Path(tmp) / path.stem) for path in EXAMPLES]


def kib(size: int) -> str:
    return f"{size / 1024:,.1f}"


def main() -> None:
    rows = run()
    print(
        f"export vs AOT compile at batch {BATCH} (platforms: {rows[0]['platforms']}); sizes in KiB"
    )
    print(
        f"{'example':<16}{'export s':>9}{'baked s':>9}{'compile s':>10}{'exp/comp':>9}"
        f"{'model.jax':>11}{'weights':>10}{'baked.jax':>11}"
    )
    for r in rows:
        print(
            f"{r['example']:<16}{r['export_s']:>9.2f}{r['bake_s']:>9.2f}{r['compile_s']:>10.2f}"
            f"{r['ratio']:>9.2f}{kib(r['model_jax']):>11}{kib(r['weights']):>10}"
            f"{kib(r['baked_jax']):>11}"
        )
    ratios = [r["ratio"] for r in rows]
    print(f"median export/compile: {float(np.median(ratios)):.2f}")


if __name__ == "__main__":
    main()
