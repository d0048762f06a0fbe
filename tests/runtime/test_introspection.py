"""Per-node introspection: model inputs/outputs as tensors, and per layer input/output and
their shapes, with `get_*_at(node_index)` for shared layers."""

from __future__ import annotations

from pathlib import Path

import pytest

import kspec

SIAMESE = Path(__file__).resolve().parents[2] / "examples" / "siamese.yaml"


@pytest.fixture(scope="module")
def siamese() -> kspec.Model:
    return kspec.load(SIAMESE)


def test_model_inputs_outputs(siamese: kspec.Model) -> None:
    assert [(t.name, t.shape, t.dtype) for t in siamese.inputs] == [
        ("left", (None, 16), "float32"),
        ("right", (None, 16), "float32"),
    ]
    assert [(t.name, t.shape) for t in siamese.outputs] == [("same", (None, 1))]
    assert siamese.output is siamese.outputs[0]
    assert siamese.input_shape == [(None, 16), (None, 16)]


def test_shared_layer_per_node(siamese: kspec.Model) -> None:
    encoder = siamese.get_layer("encoder")
    assert encoder.get_input_at(0) is siamese.inputs[0]
    assert encoder.get_input_at(1) is siamese.inputs[1]
    assert encoder.get_output_at(1).name == "encoder_right"
    assert encoder.get_input_shape_at(1) == (None, 16)
    assert encoder.get_output_shape_at(0) == (None, 8)
    with pytest.raises(ValueError) as shared_shape:
        _ = encoder.input_shape
    assert str(shared_shape.value) == (
        "layer 'encoder' is shared by 2 nodes (encoder, encoder_right), so its `input_shape` "
        "is ambiguous: use get_input_shape_at(node_index)"
    )
    with pytest.raises(ValueError) as ambiguous:
        _ = encoder.input
    assert str(ambiguous.value) == (
        "layer 'encoder' is shared by 2 nodes (encoder, encoder_right), so its `input` is "
        "ambiguous: use get_input_at(node_index)"
    )
    with pytest.raises(
        ValueError, match=r"has 2 node\(s\) \(encoder, encoder_right\); node index 2"
    ):
        encoder.get_output_at(2)


def test_shared_layer_with_different_shapes_names_the_nodes() -> None:
    x = kspec.Input(shape=(5, 4), name="x")
    dense = kspec.layers.Dense(3, name="d")
    flat = kspec.layers.Flatten()(dense(x))
    y = dense(kspec.layers.Reshape((4,))(kspec.layers.Dense(4)(flat)))
    model = kspec.Model(x, y)
    with pytest.raises(ValueError) as ambiguous:
        _ = model.get_layer("d").output_shape
    assert str(ambiguous.value) == (
        "layer 'd' is shared by 2 nodes (d, d_shared) with different shapes (d: (None, 5, 3); "
        "d_shared: (None, 3)), so its `output_shape` is ambiguous: use "
        "get_output_shape_at(node_index)"
    )


def test_single_node_layer_and_get_layer(siamese: kspec.Model) -> None:
    distance = siamese.get_layer("distance")
    assert distance.input_shape == [(None, 8), (None, 8)]
    assert [t.name for t in distance.input] == ["encoder", "encoder_right"]
    assert distance.output_shape == (None, 8)
    assert siamese.get_layer(index=-1).name == "same"
    assert siamese.get_layer(index=0).name == "encoder"
    assert distance.get_config()["expression"] == "abs(x0 - x1)"


def test_feature_extractor_from_a_loaded_model(siamese: kspec.Model) -> None:
    features = kspec.Model(
        inputs=siamese.inputs, outputs=siamese.get_layer("distance").output, name="features"
    )
    assert features.output_shape == (None, 8)
    assert features.layer_names == ["encoder", "distance"]
    assert [n.get("shares") for n in features.get_config()["layers"]] == [None, "encoder", None]


def test_flops_per_node_from_xla_cost_analysis(capsys: pytest.CaptureFixture[str]) -> None:
    """Counts derived by hand with XLA's rules: a multiply-add is 2 FLOPs, an elementwise
    add, subtract, max, negate, abs or divide 1, and a transcendental (tanh, exp) none (XLA
    counts those apart)."""
    from kspec.runtime.cli import main
    from kspec.runtime.flops import node_flops

    dense = kspec.Sequential([kspec.layers.Dense(8, input_dim=16, use_bias=False)])
    assert node_flops(dense) == {"dense": 2 * 16 * 8}
    relu = kspec.Sequential([kspec.layers.Dense(8, input_dim=16, activation="relu")])
    assert node_flops(relu) == {"dense": 2 * 16 * 8 + 8 + 8}  # + bias adds + max(x, 0)
    conv = kspec.load(
        {
            "kspec": 1,
            "inputs": {"x": [6, 6, 2]},
            "layers": [{"type": "Conv2D", "filters": 4, "kernel_size": 3}],
        }
    )
    outputs = 4 * 4 * 4  # 'valid' 3x3 over 6x6: 4x4 positions, 4 filters
    assert node_flops(conv) == {"conv2d": outputs * 2 * (3 * 3 * 2) + outputs}  # + bias
    assert main(["summary", "--flops", str(SIAMESE)]) == 0
    out = capsys.readouterr().out
    rows = {
        line.split()[1]: line.split("│")[4].strip()
        for line in out.splitlines()
        if "(Dense)" in line
    }
    encoder = 2 * 16 * 8 + 8  # + bias; tanh is a transcendental
    same = 2 * 8 * 1 + 1 + 3  # + bias; sigmoid 1 / (1 + exp(-x)): negate, add, divide
    distance = 8 + 8  # abs(x0 - x1): subtract, abs
    assert rows == {"encoder": f"{encoder}", "encoder_right": f"{encoder}", "same": f"{same}"}
    assert f"FLOPs per sample (inference): {2 * encoder + distance + same}" in out
