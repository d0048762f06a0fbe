"""The canonical spec is complete: names, explicit inputs, outputs, execution order and model
defaults on every node, nested layers included; named call arguments are checked here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Literal

import numpy as np
import pytest

import kspec
from kspec.extend import Array, BuildEnv, LayerCall, Lowering, Shape, Weights
from kspec.schemas.base import LayerSpec
from kspec.schemas.canonical import to_data


def test_every_node_is_complete() -> None:
    spec = kspec.validate(
        {
            "kspec": 1,
            "data_format": "channels_first",
            "inputs": {"x": [3, 2, 8, 8]},
            "layers": [
                {
                    "type": "TimeDistributed",
                    "layer": {"type": "Conv2D", "filters": 2, "kernel_size": 3},
                },
                {"type": "TimeDistributed", "layer": {"type": "Flatten"}, "name": "flat"},
                {"type": "Bidirectional", "layer": {"type": "LSTM", "units": 2}},
            ],
        }
    )
    names = [n.name for n in spec.layers]
    assert names == ["time_distributed", "flat", "bidirectional"]
    assert [n.inputs for n in spec.layers] == [["x"], ["time_distributed"], ["flat"]]
    assert spec.outputs == ["bidirectional"]
    assert spec.execution_order == ("time_distributed", "flat", "bidirectional")
    assert spec.layers[0].layer.data_format == "channels_first"  # type: ignore[attr-defined]
    assert spec.layers[1].layer.data_format == "channels_first"  # type: ignore[attr-defined]


def test_execution_order_follows_the_wiring_not_the_list() -> None:
    spec = kspec.validate(
        {
            "kspec": 1,
            "inputs": {"x": [4]},
            "layers": [
                {"type": "Dense", "units": 2, "name": "head", "inputs": ["body"]},
                {"type": "Dense", "units": 3, "name": "body", "inputs": ["x"]},
            ],
            "outputs": ["head"],
        }
    )
    assert spec.execution_order == ("body", "head")


def test_sub_models_keep_their_own_defaults() -> None:
    inner = {
        "inputs": {"y": [6, 6, 2]},
        "layers": [{"type": "Conv2D", "filters": 1, "kernel_size": 3}],
    }
    spec = kspec.validate(
        {
            "kspec": 1,
            "data_format": "channels_first",
            "inputs": {"x": [6, 6, 2]},
            "layers": [{"type": "Model", "spec": inner}, {"type": "Flatten"}],
        }
    )
    assert spec.layers[0].spec.layers[0].data_format == "channels_last"  # type: ignore[attr-defined]
    assert spec.layers[1].data_format == "channels_first"  # type: ignore[attr-defined]


def test_written_spec_leaves_default_inputs_out() -> None:
    spec = kspec.validate(
        {"kspec": 1, "inputs": {"x": [4]}, "layers": [{"type": "Dense", "units": 2}, "Flatten"]}
    )
    data = to_data(spec)
    assert all("inputs" not in layer for layer in data["layers"])
    assert kspec.validate(data) == spec


# Named call arguments ---------------------------------------------------------------------------


class Attend(LayerSpec):
    """A layer whose call takes named tensors, as Keras' attention layers do."""

    type: Literal["Attend"] = "Attend"
    call_arguments: ClassVar[tuple[str, ...]] = ("query", "value", "key", "attention_mask")
    required_call_arguments: ClassVar[int] = 2


SEEN: list[list[Shape | None]] = []


def _shape(spec: Attend, shapes: list[Shape | None], env: BuildEnv) -> list[Shape]:
    SEEN.append(shapes)
    return [shapes[0]]  # type: ignore[list-item]


def _apply(spec: Attend, params: Weights, xs: list[Array | None], call: LayerCall) -> list[Array]:
    query, value, key, mask = xs
    assert value is not None and key is None
    return [query + (0.0 if mask is None else mask.sum(axis=-1, keepdims=True))]


@pytest.fixture
def attend() -> Iterator[None]:
    kspec.register_layer(Attend, Lowering(Attend, _shape, _apply))  # type: ignore[arg-type]
    try:
        yield
    finally:
        kspec.unregister_layer("Attend")


def _spec(inputs: str, model_inputs: str = "q: [3, 4], v: [5, 4], m: [3, 5]") -> str:
    return (
        f"kspec: 1\ninputs: {{{model_inputs}}}\nlayers:\n  - {{type: Attend, inputs: {inputs}}}\n"
    )


def test_inputs_by_argument_name(attend: None) -> None:
    spec = kspec.validate(_spec("{query: q, value: v, attention_mask: m}"))
    assert spec.layers[0].inputs == {"query": "q", "value": "v", "attention_mask": "m"}
    listed = kspec.validate(_spec("[q, v]", "q: [3, 4], v: [5, 4]"))
    assert listed.layers[0].inputs == ["q", "v"]


def test_lowerings_get_one_entry_per_argument(attend: None) -> None:
    """Absent optional arguments reach the lowering as None, in Keras' argument order."""
    SEEN.clear()
    model = kspec.load(_spec("{attention_mask: m, value: v, query: q}"))
    assert SEEN[-1] == [(None, 3, 4), (None, 5, 4), None, (None, 3, 5)]
    q, v, m = (np.ones((1, *s), np.float32) for s in ((3, 4), (5, 4), (3, 5)))
    np.testing.assert_allclose(model.predict({"q": q, "v": v, "m": m}), q + 5.0)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (
            "{query: q, valeu: v}",
            "<string>:4:39: error: node 'attend': unknown call argument `valeu` (did you mean "
            "'value'?); Attend takes query, value, key, attention_mask",
        ),
        (
            "{query: q, attention_mask: m}",
            "<string>:4:28: error: node 'attend': missing call argument `value`: Attend needs "
            "query, value",
        ),
        (
            "[q]",
            "<string>:4:28: error: node 'attend': Attend takes 2 to 4 inputs (query, value, key, "
            "attention_mask). Received: 1 inputs",
        ),
    ],
)
def test_argument_mistakes_are_located(attend: None, inputs: str, message: str) -> None:
    with pytest.raises(kspec.SpecError) as error:
        kspec.validate(_spec(inputs))
    # every mistake is reported, in file order (a misspelt `value` is also a missing one)
    assert message in [str(d) for d in error.value.diagnostics]


def test_mapping_for_a_plain_layer_is_an_error() -> None:
    with pytest.raises(kspec.SpecError) as error:
        kspec.validate(
            "kspec: 1\ninputs: {x: [4]}\nlayers:\n  - {type: Dense, units: 2, inputs: {x: x}}\n"
        )
    assert str(error.value.diagnostics[0]) == (
        "<string>:4:37: error: node 'dense': Dense takes a list of `inputs`, not a mapping by "
        "argument name"
    )
