"""`summary` shows each layer's dtype policy, only when some layer's is not float32."""

from __future__ import annotations

import kspec


def _summary(**model: object) -> list[str]:
    spec = {
        "kspec": 1,
        "inputs": {"x": {"shape": [3]}},
        "layers": [
            {"type": "Dense", "units": 4},
            {"type": "Dense", "units": 2, "dtype": "float32"},
        ],
        **model,
    }
    lines: list[str] = []
    kspec.load(spec).summary(print_fn=lines.append)
    return lines


def test_summary_has_a_policy_column_under_a_mixed_policy() -> None:
    lines = _summary(dtype_policy="mixed_bfloat16")
    header = next(line for line in lines if "Layer (type)" in line)
    assert header.split("┃")[1:-1][-1].strip() == "Dtype policy"
    rows = [line for line in lines if line.startswith("│")]
    assert [r.split("│")[-2].strip() for r in rows] == ["mixed_bfloat16", "float32"]


def test_float32_summaries_are_unchanged() -> None:
    assert not any("Dtype policy" in line for line in _summary())
