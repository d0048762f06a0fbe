"""Conformance cases of the convolution layers."""

from __future__ import annotations

from tests.conformance.cases import Case, Invalid, KerasReference

_CF = {"data_format": "channels_first"}

CASES: dict[str, list[Case]] = {
    "Conv1D": [
        Case({"filters": 3, "kernel_size": 3}, [[8, 2]]),
        Case({"filters": 4, "kernel_size": 2, "padding": "causal", "dilation_rate": 2}, [[7, 2]]),
        Case({"filters": 2, "kernel_size": 3, "padding": "same"}, [[None, 2]], id="unknown-time"),
    ],
    "Conv2D": [
        Case({"filters": 4, "kernel_size": 3, "padding": "same"}, [[6, 5, 2]]),
        Case({"filters": 4, "kernel_size": [3, 2], "groups": 2, **_CF}, [[4, 6, 5]], id="groups"),
        Case({"filters": 2, "kernel_size": 2, "lora_rank": 2}, [[4, 4, 3]], id="lora"),
        # `same` pads depend on the spatial sizes only when strided: read from the right axes
        Case(
            {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same", **_CF},
            [[3, 7, 6]],
            id="same-strided-cf",
        ),
    ],
    "Conv3D": [
        Case({"filters": 1, "kernel_size": [1, 2, 1], "padding": "same", **_CF}, [[1, 3, 3, 2]]),
        Case({"filters": 2, "kernel_size": 2, "strides": 2}, [[4, 5, 4, 2]]),
    ],
    "SeparableConv1D": [
        Case(
            {"filters": 2, "kernel_size": 2, "padding": "same", "use_bias": False, **_CF}, [[2, 5]]
        ),
        Case({"filters": 3, "kernel_size": 3, "depth_multiplier": 2}, [[7, 2]]),
    ],
    "SeparableConv2D": [
        Case({"filters": 2, "kernel_size": 2, "strides": 2}, [[4, 4, 1]]),
        Case({"filters": 3, "kernel_size": 3, "padding": "same", **_CF}, [[2, 5, 6]]),
    ],
    "DepthwiseConv1D": [
        Case({"kernel_size": 2, "dilation_rate": 2, **_CF}, [[2, 6]]),
        Case({"kernel_size": 3, "depth_multiplier": 3}, [[6, 2]]),
    ],
    "DepthwiseConv2D": [
        Case({"kernel_size": [2, 1], "padding": "same"}, [[3, 3, 2]]),
        Case({"kernel_size": 2, "strides": 2, **_CF}, [[3, 6, 5]]),
    ],
    "Conv1DTranspose": [
        Case(
            {
                "filters": 2,
                "kernel_size": 3,
                "strides": 2,
                "padding": "same",
                "output_padding": 1,
                **_CF,
            },
            [[2, 4]],
        ),
        Case({"filters": 2, "kernel_size": 3, "strides": 2}, [[5, 3]]),
    ],
    "Conv2DTranspose": [
        Case({"filters": 2, "kernel_size": 3, "strides": 2, "output_padding": 1}, [[3, 3, 2]]),
        Case({"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"}, [[4, 3, 2]]),
    ],
    "Conv3DTranspose": [
        Case({"filters": 1, "kernel_size": 2, "padding": "same"}, [[2, 2, 2, 1]]),
        Case({"filters": 2, "kernel_size": 2, "strides": 2, **_CF}, [[2, 2, 3, 2]]),
    ],
}

INVALID: dict[str, list[Invalid]] = {
    "Conv1D": [
        Invalid({"filters": 2, "kernel_size": 5}, [[4, 2]], "larger than the input", id="big"),
        Invalid(
            {"filters": 2, "kernel_size": 2},
            [[4, 2, 2]],
            "Conv1D expects an input of rank 3. Received: shape=(None, 4, 2, 2)",
            id="rank",
        ),
        Invalid({"filters": 2, "kernel_size": 2}, [[4, None]], "known channel", id="channels"),
    ],
    "Conv2D": [
        Invalid(
            {"filters": 4, "kernel_size": 2, "groups": 2},
            [[4, 4, 3]],
            "The number of input channels must be evenly divisible by the number of groups. "
            "Received: groups=2, input shape (None, 4, 4, 3) has 3 channels",
        ),
        Invalid({"filters": 2, "kernel_size": 3, "dilation_rate": 3}, [[6, 6, 1]], "larger"),
    ],
    "Conv3D": [Invalid({"filters": 2, "kernel_size": 2}, [[4, 4, 2]], "rank 5")],
    "SeparableConv1D": [Invalid({"filters": 2, "kernel_size": 4}, [[3, 2]], "larger")],
    "SeparableConv2D": [Invalid({"filters": 2, "kernel_size": 2}, [[3, 2]], "rank 4")],
    "DepthwiseConv1D": [Invalid({"kernel_size": 4}, [[3, 2]], "larger")],
    "DepthwiseConv2D": [Invalid({"kernel_size": 2}, [[3, 3, None]], "known channel")],
    "Conv1DTranspose": [Invalid({"filters": 2, "kernel_size": 2}, [[3, None]], "known channel")],
    "Conv2DTranspose": [Invalid({"filters": 2, "kernel_size": 2}, [[3, 2]], "rank 4")],
    "Conv3DTranspose": [Invalid({"filters": 2, "kernel_size": 2}, [[3, 3, 2]], "rank 5")],
}

REFERENCES = [
    KerasReference("Conv2D", CASES["Conv2D"][0]),  # the bias add, at random values
    KerasReference("Conv1D", CASES["Conv1D"][1]),  # causal, dilated
    KerasReference("SeparableConv2D", CASES["SeparableConv2D"][1]),
    KerasReference("DepthwiseConv1D", CASES["DepthwiseConv1D"][0]),
    KerasReference("Conv2DTranspose", CASES["Conv2DTranspose"][0]),
    KerasReference("Conv2D", CASES["Conv2D"][3]),
]
