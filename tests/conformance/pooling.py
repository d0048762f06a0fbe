"""Conformance cases of the pooling layers."""

from __future__ import annotations

from tests.conformance.cases import Case, Invalid, KerasReference

CF = {"data_format": "channels_first"}


def _windowed(rank: int) -> list[Case]:
    spatial = [5, 4, 3][:rank]
    return [
        Case(
            {"pool_size": 3, "strides": 2, "padding": "same", **CF}, [[2, *spatial]], id="same-cf"
        ),
        Case({"pool_size": 2}, [[*([None] * rank), 2]], id="unknown-spatial"),
    ]


def _global(rank: int) -> list[Case]:
    return [
        Case({}, [[*[4, 3, 2][:rank], 3]]),
        Case({"keepdims": True, **CF}, [[3, *([None] * rank)]], id="keepdims-cf"),
    ]


CASES: dict[str, list[Case]] = {
    **{f"{kind}Pooling{r}D": _windowed(r) for kind in ("Max", "Average") for r in (1, 2, 3)},
    **{f"Global{kind}Pooling{r}D": _global(r) for kind in ("Max", "Average") for r in (1, 2, 3)},
}

INVALID: dict[str, list[Invalid]] = {
    **{
        f"{kind}Pooling{r}D": [
            Invalid({"pool_size": 3}, [[*[2] * r, 1]], "larger than the input", id="too-small"),
            Invalid({"pool_size": 2}, [[4] * (r + 2)], f"rank {r + 2}", id="rank"),
        ]
        for kind in ("Max", "Average")
        for r in (1, 2, 3)
    },
    **{
        f"Global{kind}Pooling{r}D": [Invalid({}, [[4] * (r + 2)], f"rank {r + 2}", id="rank")]
        for kind in ("Max", "Average")
        for r in (1, 2, 3)
    },
}

REFERENCES = [
    KerasReference("MaxPooling2D", CASES["MaxPooling2D"][0]),
    KerasReference("AveragePooling1D", CASES["AveragePooling1D"][0]),
    KerasReference("GlobalAveragePooling3D", CASES["GlobalAveragePooling3D"][0]),
]
