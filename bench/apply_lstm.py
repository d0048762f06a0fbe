"""kspec `apply` vs an LSTM text classifier hand-written with `lax.scan`, in both forms: the
input projection hoisted out of the scan (one big matmul) and computed per step.

Embedding 10000x128 (mask_zero) -> LSTM 128 -> Dense 1 sigmoid; seq 100, batch 64, inference.
Goal: kspec / faster hand-written form <= 1.05. Also reports kspec's own two forms.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import kspec
from bench.timing import interleaved, time_compile
from kspec import LoweringOptions

BATCH, STEPS, VOCAB, WIDTH = 64, 100, 10000, 128
GOAL = 1.05
SPEC = {
    "kspec": 1,
    "name": "lstm_text_classifier",
    "inputs": {"ids": {"shape": [STEPS], "dtype": "int32"}},
    "layers": [
        {"type": "Embedding", "input_dim": VOCAB, "output_dim": WIDTH, "mask_zero": True},
        {"type": "LSTM", "units": WIDTH},
        {"type": "Dense", "units": 1, "activation": "sigmoid"},
    ],
}


def handwritten(params: dict[str, Any], ids: jax.Array, hoist: bool) -> jax.Array:
    """The classifier as a careful person writes it (masked steps keep the state)."""
    lstm, dense = params["lstm"], params["dense"]
    x = jnp.swapaxes(params["embedding"]["embeddings"][ids], 0, 1)  # (T, B, F)
    mask = jnp.swapaxes(ids != 0, 0, 1)[..., None]
    if hoist:
        x = x @ lstm["kernel"] + lstm["bias"]

    def step(carry: tuple[jax.Array, jax.Array], inp: Any) -> tuple[Any, None]:
        h, c = carry
        xt, mt = inp
        xw = xt if hoist else xt @ lstm["kernel"] + lstm["bias"]
        i, f, g, o = jnp.split(xw + h @ lstm["recurrent_kernel"], 4, axis=-1)
        c_new = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h_new = jax.nn.sigmoid(o) * jnp.tanh(c_new)
        return (jnp.where(mt, h_new, h), jnp.where(mt, c_new, c)), None

    zeros = jnp.zeros((ids.shape[0], WIDTH))
    (h, _), _ = jax.lax.scan(step, (zeros, zeros), (x, mask))
    return jax.nn.sigmoid(h @ dense["kernel"] + dense["bias"])


def _kspec_compiled(form: str, variables: Any, ids: jax.Array) -> Any:
    model = kspec.load(SPEC, lowering=kspec.LoweringOptions(rnn_input_projection=form))
    return time_compile(lambda v, x: model.apply(v, x), variables, ids)[0]


def run(rounds: int = 40, inner: int = 5) -> dict[str, float]:
    with jax.numpy_rank_promotion("allow"):  # the hand-written form adds biases implicitly
        model = kspec.load(SPEC)
        variables = model.init(0)
        lengths = np.random.default_rng(0).integers(STEPS // 2, STEPS + 1, BATCH)
        ids = np.random.default_rng(1).integers(1, VOCAB, (BATCH, STEPS)).astype(np.int32)
        ids[np.arange(STEPS)[None, :] >= lengths[:, None]] = 0
        ids = jax.device_put(ids)
        params = variables["params"]
        forms = {
            f"handwritten_{name}": time_compile(
                lambda p, x, hoist=hoist: handwritten(p, x, hoist), params, ids
            )[0]
            for name, hoist in (("hoisted", True), ("per_step", False))
        }
        kspec_forms = {
            f"kspec_{form}": _kspec_compiled(form, variables, ids)
            for form in ("hoisted", "per_step")
        }
        reference = np.asarray(forms["handwritten_hoisted"](params, ids))
        for fn in kspec_forms.values():
            np.testing.assert_allclose(np.asarray(fn(variables, ids)), reference, atol=1e-5)
        result: dict[str, float] = {}
        for (k_name, k_fn), (h_name, h_fn) in zip(kspec_forms.items(), forms.items(), strict=True):
            pair = {k_name: partial(k_fn, variables, ids), h_name: partial(h_fn, params, ids)}
            result.update({f"{n}_us": t * 1e6 for n, t in interleaved(pair, rounds, inner).items()})
    default = "kspec_hoisted" if LoweringOptions().hoist_input_projection() else "kspec_per_step"
    fastest = min(result["handwritten_hoisted_us"], result["handwritten_per_step_us"])
    result["ratio"] = result[f"{default}_us"] / fastest
    return result


def report(result: dict[str, float]) -> str:
    device = jax.devices()[0]
    verdict = "OK" if result["ratio"] <= GOAL else "SLOWER THAN GOAL"
    lines = [
        f"apply LSTM text classifier: Embedding {VOCAB}x{WIDTH} mask_zero, LSTM {WIDTH}, "
        f"seq {STEPS}, batch {BATCH}, inference, jit  [{device.platform}: {device.device_kind}]"
    ]
    for name in ("kspec_hoisted", "kspec_per_step", "handwritten_hoisted", "handwritten_per_step"):
        lines.append(f"  {name:22s} median {result[name + '_us']:10.1f} us/call")
    lines.append(
        f"  ratio kspec (default form)/faster hand-written = {result['ratio']:.3f}   "
        f"(goal <= {GOAL}: {verdict})"
    )
    return "\n".join(lines)


def main() -> None:
    print(report(run()))


if __name__ == "__main__":
    main()
