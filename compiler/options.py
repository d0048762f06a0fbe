"""Per-backend lowering choices: which of two equal formulations a layer lowers to.

XLA:CPU differentiates some primitives slowly: the weight gradient of a convolution is itself a
convolution whose "kernel" is the (large) input, which XLA:CPU runs far below matmul speed, and
the gradient of `reduce_window` max is a `select_and_scatter`. A compiler that knows the
backend and every static shape can lower those to forms that run faster there, and keep XLA's
own elsewhere. Each choice is decided once, at compile time, from `jax.default_backend()` and
the layer's static shapes; each has a switch that forces either form (`kspec.load(...,
lowering=LoweringOptions(conv_weight_grad="xla"))`), and both forms are tested equal (values
and gradients).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kspec.compiler.deferred import jax

ConvWeightGrad = Literal["auto", "im2col", "xla"]
"""How a convolution's weight gradient is computed: `im2col` (matmuls of strided slices of
the input with the output gradient, in a `custom_vjp`: compiler/layers/conv_grad.py) or `xla`
(XLA's transposed convolution). `auto`: im2col on CPU."""

MaxPool = Literal["auto", "reshape", "reduce_window"]
"""How max pooling is lowered when strides equal the pool size, the padding is `valid` and the
sizes divide: `reshape` (XLA's forward; the gradient, in a `custom_vjp`, splits each spatial
axis into (out, pool) and puts dy where each block held its maximum: elementwise) or
`reduce_window` (XLA's; its gradient is `select_and_scatter`). `auto`: reshape on CPU. Other
windows always use `reduce_window`."""

RnnInputProjection = Literal["auto", "hoisted", "per_step"]
"""Where a recurrent layer computes `x @ kernel`: for all timesteps as one matmul before the
scan (`hoisted`) or once per step inside it (`per_step`). `auto`: per step on every backend
(measured faster on CPU: `python -m bench.apply_lstm` prints both forms; XLA:GPU fuses either)."""

RnnWeightGrad = Literal["auto", "batched", "per_step"]
"""Where the backward pass of SimpleRNN and LSTM computes the kernel, recurrent kernel, bias
and input gradients: `per_step` (autodiff of the scan: a (batch)-row matmul for each, every
timestep, inside the backward loop) or `batched` (a `custom_vjp` whose backward loop carries
only the state gradients; each weight gradient is then one matmul over all timesteps:
compiler/layers/recurrent_batched.py). `auto`: batched on CPU, where XLA:CPU runs a
(batch)-row matmul at about half the speed of one over all rows: `value_and_grad` takes
0.80-0.93 of the per-step time on four LSTM and SimpleRNN models (`python -m bench.forms
rnn_weight_grad`); autodiff's form elsewhere.
GRU and ConvLSTM2D, a layer with `unroll: true`, and a hoisted input projection always
take autodiff's form. The batched form has no forward-mode rule (`jax.jvp` raises)."""

RnnScanUnroll = int | Literal["auto"]
"""How many timesteps one trip of a recurrent layer's `lax.scan` loop runs (its `unroll`:
the same recurrence in fewer, longer trips; a layer's own `unroll: true` still unrolls the
whole sequence). `auto`: 1 on every backend. On CPU a longer trip made the LSTM training step
slower, not faster: at (64, 40, 64), `value_and_grad` took 1.09-1.12x the time at 2 or 4
steps per trip and 1.5-2x at 8 or 40 (`python -m bench.forms rnn`)."""

BatchNormStatistics = Literal["auto", "two_pass", "one_pass"]
"""How BatchNormalization computes its training-mode batch statistics: `two_pass` (the mean,
then the mean of `(x - mean)^2`: Keras' `ops.moments`, two reads of x) or `one_pass`
(`E[x]` and `E[x^2]` in one read, shifted by the moving mean so that, once it tracks the
batch mean, a mean far from 0 cancels no digits). `auto`: two passes on every backend. One
pass trains a stack of BatchNormalization + ReLU in 0.72 of the two-pass time on CPU (`python
-m bench.forms batch_norm`) but 1.00 on a ResNet, where convolutions dominate, and it loses
digits while the moving mean is far from an unnormalized batch's: not a default."""

DepthwiseConv = Literal["auto", "shifted", "xla"]
"""How DepthwiseConv1D/2D and SeparableConv1D/2D's depthwise step are lowered: `shifted` (a
sum over kernel taps of strided slices of the padded input times per-channel weights, with a
`custom_vjp` whose input and kernel gradients are per-tap elementwise work too:
`compiler/layers/depthwise_shifted.py`) or `xla` (one `conv_general_dilated` with
`feature_group_count` = channels). `auto`: shifted on CPU, where XLA's grouped convolution
is slow: on three DepthwiseConv2D(3) + ReLU at (32, 56, 56, 64) it takes 0.09 of XLA's time
forward and 0.21-0.22 for `value_and_grad`, and 0.05-0.07 and 0.21-0.23 at B=1
(`python -m bench.forms depthwise`); XLA's elsewhere. Every stride, dilation, padding,
depth_multiplier and data format is covered; an input with a symbolic (export) dimension
other than the batch keeps XLA's form."""

DropoutMask = Literal["auto", "packed", "per_element"]
"""How dropout draws its keep masks (Dropout, SpatialDropout, AlphaDropout, recurrent and
attention dropout): `per_element` (`jax.random.bernoulli`: one 32-bit hash per element) or
`packed` (exactly bernoulli's probability from fewer hashes: where the keep probability is a
multiple of 1/65536, as 0.5 and 0.75 are, k-bit fields of each random word; at other rates
both halves of each threefry hash: compiler/dropout.py). The masks differ between the forms,
their distribution does not. `auto`: packed on CPU, where a Dropout(0.25) over (128, 12, 12,
64) takes 0.13 of the per-element time, the MNIST CNN's training-mode `value_and_grad` 0.97
and the MLP's (two Dropout(0.2)) 0.88 (`python -m bench.forms dropout`); per element
elsewhere (the other-rate draw cannot be split over devices)."""

_CPU = ("cpu",)


@dataclass(frozen=True)
class LoweringOptions:
    """The compile options that pick a lowering per layer. `"auto"` decides from the backend
    (measured choices, see docs/performance.md); any other value forces that form."""

    conv_weight_grad: ConvWeightGrad = "auto"
    max_pool: MaxPool = "auto"
    rnn_input_projection: RnnInputProjection = "auto"
    rnn_scan_unroll: RnnScanUnroll = "auto"
    rnn_weight_grad: RnnWeightGrad = "auto"
    batch_norm_statistics: BatchNormStatistics = "auto"
    depthwise_conv: DepthwiseConv = "auto"
    dropout_mask: DropoutMask = "auto"

    def __post_init__(self) -> None:
        for name, allowed in (
            ("conv_weight_grad", ("auto", "im2col", "xla")),
            ("max_pool", ("auto", "reshape", "reduce_window")),
            ("rnn_input_projection", ("auto", "hoisted", "per_step")),
            ("rnn_weight_grad", ("auto", "batched", "per_step")),
            ("batch_norm_statistics", ("auto", "two_pass", "one_pass")),
            ("depthwise_conv", ("auto", "shifted", "xla")),
            ("dropout_mask", ("auto", "packed", "per_element")),
        ):
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(
                    f"LoweringOptions.{name} must be one of {', '.join(allowed)}. "
                    f"Received: {name}={value!r}"
                )
        unroll = self.rnn_scan_unroll
        counted = isinstance(unroll, int) and not isinstance(unroll, bool) and unroll >= 1
        if unroll != "auto" and not counted:
            raise ValueError(
                "LoweringOptions.rnn_scan_unroll must be auto or a positive number of "
                f"timesteps. Received: rnn_scan_unroll={unroll!r}"
            )

    def im2col_weight_grad(self) -> bool:
        """Whether convolutions compute their weight gradient as an im2col matmul."""
        return _pick(self.conv_weight_grad, "im2col")

    def reshape_max_pool(self) -> bool:
        """Whether a non-overlapping max pool takes the block (reshaped) gradient."""
        return _pick(self.max_pool, "reshape")

    def hoist_input_projection(self) -> bool:
        """Whether recurrent layers project all timesteps' inputs before the scan."""
        return self.rnn_input_projection == "hoisted"

    def batch_rnn_weight_grad(self) -> bool:
        """Whether SimpleRNN and LSTM compute their weight gradients after the backward scan."""
        return _pick(self.rnn_weight_grad, "batched")

    def scan_unroll(self) -> int:
        """Timesteps per trip of a recurrent layer's scan loop (`lax.scan`'s `unroll`)."""
        return 1 if self.rnn_scan_unroll == "auto" else self.rnn_scan_unroll

    def one_pass_batch_norm(self) -> bool:
        """Whether BatchNormalization's training statistics are E[x], E[x^2] in one read."""
        return self.batch_norm_statistics == "one_pass"

    def shifted_depthwise(self) -> bool:
        """Whether depthwise convolutions lower to per-tap shifted slices."""
        return _pick(self.depthwise_conv, "shifted")

    def packed_dropout_masks(self) -> bool:
        """Whether dropout masks come from packed k-bit fields where the rate allows."""
        return _pick(self.dropout_mask, "packed")


def _pick(choice: str, fast_on_cpu: str) -> bool:
    if choice == "auto":
        return jax.default_backend() in _CPU
    return choice == fast_on_cpu
