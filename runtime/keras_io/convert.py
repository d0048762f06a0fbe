"""Keras 2's conversions of old weights on load, ported from keras 2.2.4
`keras/engine/saving.py` (`preprocess_weights_for_loading`, `_convert_rnn_weights`,
`_need_convert_kernel`) and `keras/utils/conv_utils.py` (`convert_kernel`).

As in Keras 2, the *target* layer decides (here: the kspec spec the Keras config translated
to), the source is told apart by the file's Keras version and backend and by the saved
shapes. Each conversion applied is returned as a note for the import report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kspec.errors import KerasImportError

CONV_LAYERS = ("Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "ConvLSTM2D")
"""The layers whose kernels Keras 2 flips for Theano files (`conv_layers` in saving.py)."""


@dataclass(frozen=True)
class Source:
    """Where weights come from: the saving Keras version (`"1"` when the file does not say,
    as Keras 2 assumed) and backend."""

    keras_version: str
    backend: str | None

    @property
    def keras1(self) -> bool:
        return self.keras_version.split(".", 1)[0] == "1"

    @property
    def keras3(self) -> bool:
        return self.keras_version.split(".", 1)[0] == "3"


@dataclass
class Converted:
    arrays: list[np.ndarray]
    notes: list[str] = field(default_factory=list)


Shapes = Sequence[tuple[int, ...]]


def convert(spec: Any, arrays: Sequence[np.ndarray], source: Source, targets: Shapes) -> Converted:
    """The arrays of one saved layer, in the layout kspec's `spec` (Keras 3's) expects;
    `targets` are the shapes kspec expects (Keras 2 compared against `layer.weights`)."""
    result = Converted([np.asarray(a) for a in arrays])
    _convert(spec, result, source, targets)
    return result


def _convert(spec: Any, result: Converted, source: Source, targets: Shapes) -> None:
    kind = spec.type
    if kind == "Bidirectional":
        half, target_half = len(result.arrays) // 2, len(targets) // 2
        forward, backward = Converted(result.arrays[:half]), Converted(result.arrays[half:])
        _convert(spec.layer, forward, source, targets[:target_half])
        _convert(spec.backward_layer or spec.layer, backward, source, targets[target_half:])
        result.arrays = forward.arrays + backward.arrays
        result.notes += forward.notes + backward.notes
        return
    if kind == "TimeDistributed":
        _convert(spec.layer, result, source, targets)
        return
    if source.keras1:
        _keras1_layout(spec, result)
    if kind in CONV_LAYERS and result.arrays:
        _conv_kernels(spec, result, source, targets)
    _cudnn(spec, result)


def _keras1_layout(spec: Any, result: Converted) -> None:
    """Keras 1 kernel layouts and per-gate recurrent weights (the `original_keras_version ==
    '1'` branch)."""
    w, kind = result.arrays, spec.type
    channels_first = getattr(spec, "data_format", None) == "channels_first"
    if kind == "Conv1D" and w and w[0].ndim == 4:
        shape = w[0].shape
        if shape[:2] != (_first(spec.kernel_size), 1) or shape[3] != spec.filters:
            # Keras 1.1 layout: (filters, input_dim, filter_length, 1)
            w[0] = np.transpose(w[0], (2, 3, 1, 0))
        w[0] = w[0][:, 0, :, :]
        result.notes.append(
            "Keras 1 Conv1D kernel (length, 1, in, filters) -> (length, in, filters)"
        )
    elif kind in ("Conv2D", "Conv3D") and w and channels_first:
        axes = (2, 3, 1, 0) if kind == "Conv2D" else (2, 3, 4, 1, 0)
        w[0] = np.transpose(w[0], axes)
        result.notes.append(f"Keras 1 channels_first {kind} kernel transposed {axes}")
    elif kind == "Conv2DTranspose" and w:
        axes = (2, 3, 0, 1) if channels_first else (0, 1, 3, 2)
        w[0] = np.transpose(w[0], axes)
        result.notes.append(f"Keras 1 Deconvolution2D kernel transposed {axes}")
    elif kind == "GRU" and len(w) == 9:
        result.arrays = [np.concatenate(w[i::3], axis=-1) for i in range(3)]
        result.notes.append("Keras 1 GRU: 9 per-gate arrays (z, r, h) joined into 3")
    elif kind in ("LSTM", "ConvLSTM2D") and len(w) == 12:
        # old gate order i, c, f, o; new i, f, c, o
        joined = [np.concatenate([w[i], w[i + 6], w[i + 3], w[i + 9]], axis=-1) for i in range(3)]
        if kind == "ConvLSTM2D" and channels_first:
            joined[0] = np.transpose(joined[0], (2, 3, 1, 0))
            joined[1] = np.transpose(joined[1], (2, 3, 1, 0))
        result.arrays = joined
        result.notes.append(f"Keras 1 {kind}: 12 per-gate arrays joined, gates i,c,f,o -> i,f,c,o")


def _conv_kernels(spec: Any, result: Converted, source: Source, targets: Shapes) -> None:
    """Theano kernels flipped (Theano convolves, the others correlate); a 4-D kernel saved in
    Theano's (out, in, rows, cols) layout transposed to (rows, cols, in, out)."""
    w = result.arrays
    if source.backend == "theano":
        flips = [0, 1] if spec.type == "ConvLSTM2D" else [0]
        for i in flips:
            w[i] = _flip_spatial(w[i])
        result.notes.append("Theano kernel flipped (convolution -> correlation)")
    if targets and w[0].ndim == 4 and w[0].shape != tuple(targets[0]):
        transposed = [1] if spec.type == "ConvLSTM2D" else []
        for i in [0, *transposed]:
            w[i] = np.transpose(w[i], (3, 2, 0, 1))
        result.notes.append("kernel in Theano layout transposed (3, 2, 0, 1)")


def _flip_spatial(kernel: np.ndarray) -> np.ndarray:
    """`conv_utils.convert_kernel`: every axis but the last two reversed."""
    if not 3 <= kernel.ndim <= 5:
        raise KerasImportError(f"cannot flip a {kernel.ndim}-D convolution kernel")
    return np.ascontiguousarray(kernel[(slice(None, None, -1),) * (kernel.ndim - 2)])


def _cudnn(spec: Any, result: Converted) -> None:
    """CuDNNLSTM -> LSTM and CuDNNGRU -> GRU(reset_after=True), told apart by the bias shape
    as `_convert_rnn_weights` does."""
    w = result.arrays
    if spec.type not in ("LSTM", "GRU") or len(w) != 3:
        return
    units, bias = w[1].shape[0], w[2].shape
    gates = 4 if spec.type == "LSTM" else 3
    if bias == (2 * units * gates,):
        kernels = np.hstack([k.T.reshape(k.shape, order="F") for k in np.hsplit(w[0], gates)])
        recurrent = np.hstack([k.T for k in np.hsplit(w[1], gates)])
        if spec.type == "LSTM":
            biases = np.sum(np.split(w[2], 2, axis=0), axis=0)
        else:
            if not spec.reset_after:
                raise KerasImportError(
                    "CuDNNGRU weights need GRU(reset_after=True); this GRU has reset_after=False"
                )
            biases = w[2].reshape((2, -1))
        result.arrays = [kernels, recurrent, biases]
        result.notes.append(f"CuDNN{spec.type} weights converted to {spec.type}")
    elif spec.type == "GRU" and bias == (units * gates,) and spec.reset_after:
        raise KerasImportError(
            "GRU(reset_after=False) weights (one bias row) do not fit GRU(reset_after=True)"
        )


def _first(value: Any) -> int:
    return int(value[0]) if isinstance(value, list | tuple) else int(value)
