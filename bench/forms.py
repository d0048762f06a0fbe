"""`python -m bench.forms CASE [--rounds R]` (CASE: batch_norm, depthwise, dropout, rnn,
rnn_projection, rnn_weight_grad): one model's training-mode `apply` and `value_and_grad`
under each form of one `LoweringOptions` choice, interleaved in one process, with each form's
ratio to the first. The figures behind the `auto` rules in `compiler/options.py` that this
module measures (docs/performance.md quotes them)."""

from __future__ import annotations

import argparse
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import kspec
from bench.timing import interleaved
from bench.workloads import EXAMPLES

_BN_STACK = {  # BatchNormalization-heavy: the statistics, not a convolution, dominate
    "kspec": 1,
    "inputs": {"x": [16, 16, 64]},
    "layers": [
        layer
        for i in range(6)
        for layer in (
            {"type": "BatchNormalization", "name": f"bn{i}"},
            {"type": "ReLU", "name": f"relu{i}"},
        )
    ],
}

_DEPTHWISE_STACK = {  # MobileNet's depthwise step at its 56x56x64 stage, three deep
    "kspec": 1,
    "inputs": {"x": [56, 56, 64]},
    "layers": [
        layer
        for i in range(3)
        for layer in (
            {"type": "DepthwiseConv2D", "name": f"dw{i}", "kernel_size": 3, "padding": "same"},
            {"type": "ReLU", "name": f"relu{i}"},
        )
    ],
}

_LSTM = {  # the bench suite's LSTM classifier on float inputs: 40 steps of 64 features
    "kspec": 1,
    "inputs": {"x": [40, 64]},
    "layers": [
        {"type": "LSTM", "name": "lstm", "units": 64},
        {"type": "Dense", "name": "head", "units": 10, "activation": "softmax"},
    ],
}

_RECURRENT = {  # each additive cell: a masked, sequence-returning LSTM and a SimpleRNN
    "lstm_masked": {
        "kspec": 1,
        "inputs": {"x": [100, 128]},
        "layers": [
            {"type": "Masking", "name": "mask", "mask_value": 0.0},
            {"type": "LSTM", "name": "lstm", "units": 128, "return_sequences": True},
            {"type": "GlobalAveragePooling1D", "name": "pool"},
        ],
    },
    "simple_rnn": {
        "kspec": 1,
        "inputs": {"x": [100, 128]},
        "layers": [{"type": "SimpleRNN", "name": "rnn", "units": 128}],
    },
}

_RESNET = EXAMPLES / "resnet_small.yaml"
_MNIST_CNN = EXAMPLES / "mnist_cnn.yaml"
_MLP = EXAMPLES / "mlp.yaml"
_DROPOUT = {  # the MNIST CNN's first dropout alone, at its input
    "kspec": 1,
    "inputs": {"x": [12, 12, 64]},
    "layers": [{"type": "Dropout", "name": "dropout", "rate": 0.25}],
}
CASES: dict[str, tuple[str, tuple[Any, ...], list[tuple[str, Any, tuple[int, ...]]]]] = {
    "batch_norm": (
        "batch_norm_statistics",
        ("two_pass", "one_pass"),
        [
            ("BatchNormalization+ReLU x6", _BN_STACK, (128, 16, 16, 64)),
            (_RESNET.name, _RESNET, (64, 32, 32, 3)),
        ],
    ),
    "depthwise": (
        "depthwise_conv",
        ("xla", "shifted"),
        [
            ("DepthwiseConv2D(3)+ReLU x3", _DEPTHWISE_STACK, (32, 56, 56, 64)),
            ("DepthwiseConv2D(3)+ReLU x3", _DEPTHWISE_STACK, (1, 56, 56, 64)),
        ],
    ),
    "dropout": (
        "dropout_mask",
        ("per_element", "packed"),
        [
            ("Dropout(0.25)", _DROPOUT, (128, 12, 12, 64)),
            (_MNIST_CNN.name, _MNIST_CNN, (128, 28, 28, 1)),
            (_MLP.name, _MLP, (256, 784)),  # Dropout(0.2): no packed fields, whole hashes
        ],
    ),
    "rnn": ("rnn_scan_unroll", (1, 2, 4, 8, 40), [("LSTM(64) + Dense", _LSTM, (64, 40, 64))]),
    "rnn_weight_grad": (
        "rnn_weight_grad",
        ("per_step", "batched"),
        [
            ("LSTM(64) + Dense", _LSTM, (64, 40, 64)),
            ("LSTM(64) + Dense", _LSTM, (8, 40, 64)),
            ("Masking + LSTM(128, sequences) + mean", _RECURRENT["lstm_masked"], (64, 100, 128)),
            ("SimpleRNN(128)", _RECURRENT["simple_rnn"], (64, 100, 128)),
        ],
    ),
    "rnn_projection": (
        "rnn_input_projection",
        ("per_step", "hoisted"),
        [("LSTM(64) + Dense", _LSTM, (64, 40, 64))],
    ),
}


def _steps(spec: Any, field: str, form: Any, x: jax.Array) -> tuple[Any, Any, Any]:
    """(apply, value_and_grad, params) of the model under one form, both compiled."""
    model = kspec.load(spec, lowering=kspec.LoweringOptions(**{field: form}))
    variables = model.init(0)
    name = model.compiled.graph.inputs[0]

    rng = jax.random.PRNGKey(0)  # dropout's

    def loss(params: Any) -> jax.Array:
        (y,), aux = model.compiled.apply(
            {**variables, "params": params}, {name: x}, training=True, rng=rng
        )
        return jnp.sum(y**2) + sum(jnp.sum(v) for v in jax.tree.leaves(aux.state))

    def apply(params: Any) -> Any:
        return model.compiled.apply(
            {**variables, "params": params}, {name: x}, training=True, rng=rng
        )

    apply, step = jax.jit(apply), jax.jit(jax.value_and_grad(loss))
    jax.block_until_ready((apply(variables["params"]), step(variables["params"])))
    return apply, step, variables["params"]


def compare(case: str, rounds: int) -> None:
    """Print, per model of `case`, each form's median times and ratios to the first form."""
    field, forms, models = CASES[case]
    for label, spec, shape in models:
        x = jnp.asarray(np.random.default_rng(0).normal(size=shape), jnp.float32)
        steps = {form: _steps(spec, field, form, x) for form in forms}
        print(f"{label} {shape}, {field}, training mode, median of {rounds} interleaved")
        for kind, which in (("apply", 0), ("value_and_grad", 1)):
            calls = {str(form): partial(fns[which], fns[2]) for form, fns in steps.items()}
            medians = interleaved(calls, rounds)
            base = medians[str(forms[0])]
            for form, median in medians.items():
                ratio = median / base
                print(f"  {kind:15s} {form:12s} {median * 1e3:9.2f} ms  ratio {ratio:.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.forms", description=__doc__)
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    compare(args.case, args.rounds)


if __name__ == "__main__":
    main()
