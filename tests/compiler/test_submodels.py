"""Models as layers (`{type: Model, spec: ...}`): the sub-model's own functions under the node's
weight namespace, shared with `shares:`, nested, frozen, and seen as a nested model by
`get_layer`, `summary` and the weight lists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kspec
from kspec.schemas.canonical import to_yaml

INNER = {
    "name": "encoder",
    "inputs": {"x": [6]},
    "layers": [
        {"type": "Dense", "units": 5, "activation": "tanh"},
        {"type": "BatchNormalization"},
        {"type": "Dense", "units": 3},
    ],
}


def _outer(**node: Any) -> dict[str, Any]:
    """Two inputs through one shared sub-model, concatenated, then a head."""
    return {
        "kspec": 1,
        "inputs": {"a": [6], "b": [6]},
        "layers": [
            {"type": "Model", "spec": INNER, "inputs": ["a"], **node},
            {"shares": "encoder", "name": "encoder_b", "inputs": ["b"]},
            {"type": "Concatenate", "inputs": ["encoder", "encoder_b"]},
            {"type": "Dense", "units": 1},
        ],
    }


def _x(seed: int, shape: tuple[int, ...] = (4, 6)) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_node_applies_the_inner_model_on_the_same_weights() -> None:
    model, inner = kspec.load(_outer()), kspec.load({"kspec": 1, **INNER})
    inner.set_weights(model.get_layer("encoder").get_weights())
    x = _x(0)
    np.testing.assert_allclose(model.get_layer("encoder").predict(x), inner.predict(x), rtol=1e-6)
    np.testing.assert_allclose(
        model.get_layer("encoder").predict(x), inner.apply(inner.variables, x), rtol=1e-6
    )


def test_weights_live_under_the_node_with_keras_paths_once() -> None:
    model = kspec.load(_outer())
    variables = model.init(0)
    assert list(variables["params"]) == ["encoder", "dense"]  # encoder_b owns nothing
    assert set(variables["params"]["encoder"]) == {
        "dense/kernel", "dense/bias", "batch_normalization/gamma", "batch_normalization/beta",
        "dense_1/kernel", "dense_1/bias",
    }  # fmt: skip
    assert set(variables["state"]["encoder"]) == {
        "batch_normalization/moving_mean", "batch_normalization/moving_variance",
    }  # fmt: skip
    assert model.get_layer("encoder").weight_names() == [
        "dense/kernel", "dense/bias", "batch_normalization/gamma", "batch_normalization/beta",
        "batch_normalization/moving_mean", "batch_normalization/moving_variance",
        "dense_1/kernel", "dense_1/bias",
    ]  # fmt: skip
    assert [w.shape for w in model.get_weights()] == [
        (6, 5), (5,), (5,), (5,), (5,), (5,), (5, 3), (3,), (6, 1), (1,),
    ]  # fmt: skip


def test_shared_node_uses_the_same_weights() -> None:
    model = kspec.load(_outer())
    x = _x(1)
    out = model.predict([x, x])
    encoded = model.get_layer("encoder").predict(x)
    head = model.get_layer("dense").get_weights()
    expected = np.concatenate([encoded, encoded], axis=1) @ head[0] + head[1]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_get_layer_views_the_nested_model_and_writes_through() -> None:
    model = kspec.load(_outer())
    encoder = model.get_layer("encoder")
    assert isinstance(encoder, kspec.Model)
    assert [layer.name for layer in encoder.layers] == ["dense", "batch_normalization", "dense_1"]
    assert encoder.input_shape == (None, 6) and encoder.output_shape == (None, 3)
    assert model.get_layer(index=0).name == "encoder"
    encoder.get_layer("dense_1").set_weights([np.ones((5, 3)), np.full(3, 2.0)])
    np.testing.assert_array_equal(model.variables["params"]["encoder"]["dense_1/bias"], [2, 2, 2])
    assert model.get_weights()[7].tolist() == [2, 2, 2]


def test_nested_sub_models_compose_their_namespaces() -> None:
    middle = {"inputs": {"x": [6]}, "layers": [{"type": "Model", "name": "inner", "spec": INNER}]}
    spec = {"kspec": 1, "inputs": {"x": [6]},
            "layers": [{"type": "Model", "name": "outer", "spec": middle}]}  # fmt: skip
    model = kspec.load(spec)
    assert model.get_layer("outer").weight_names()[:2] == [
        "inner/dense/kernel", "inner/dense/bias",
    ]  # fmt: skip
    conv = model.get_layer("outer").get_layer("inner").get_layer("dense")
    assert conv.get_weights()[0].shape == (6, 5)
    x = _x(2)
    inner = kspec.load({"kspec": 1, **INNER})
    inner.set_weights(model.get_weights())
    np.testing.assert_allclose(model.predict(x), inner.predict(x), rtol=1e-6)


def test_training_updates_the_state_of_a_batch_norm_inside() -> None:
    model = kspec.load(_outer())
    variables = model.init(0)
    x = _x(3)
    _, aux = model.apply(variables, x, 2 * x, training=True, return_aux=True)
    moving = aux.state["encoder"]["batch_normalization/moving_mean"]
    assert moving.shape == (5,) and not np.allclose(moving, 0.0)
    assert set(aux.state) == {"encoder"}


def test_frozen_node_freezes_every_weight_inside() -> None:
    model = kspec.load(_outer(trainable=False))
    variables = model.init(0)
    assert "encoder" not in variables["params"]  # all in state: not trained
    assert len(variables["state"]["encoder"]) == 8
    _, aux = model.apply(variables, _x(4), _x(5), training=True, return_aux=True)
    # Keras: a frozen BatchNormalization runs in inference mode, its statistics unchanged
    np.testing.assert_array_equal(
        aux.state["encoder"]["batch_normalization/moving_mean"], np.zeros(5)
    )
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    assert "Trainable params: 7" in lines[-2] and "Non-trainable params: 73" in lines[-1]
    assert [w.shape for w in model.get_weights()][:2] == [(6, 5), (5,)]  # Keras order kept


def test_a_frozen_layer_inside_is_not_trained() -> None:
    inner = {**INNER, "layers": [{**INNER["layers"][0], "trainable": False}, *INNER["layers"][1:]]}
    variables = kspec.load(_outer(spec=inner)).init(0)
    assert {"dense/kernel", "dense/bias"} <= set(variables["state"]["encoder"])
    assert "dense/kernel" not in variables["params"]["encoder"]


def test_regularizers_and_constraints_inside_apply_once() -> None:
    inner = {"inputs": {"x": [3]}, "layers": [
        {"type": "Dense", "units": 2, "kernel_regularizer": {"l2": 0.5},
         "kernel_constraint": "non_neg"}]}  # fmt: skip
    spec = {"kspec": 1, "inputs": {"x": [3]},
            "layers": [{"type": "Model", "name": "m", "spec": inner}]}  # fmt: skip
    model = kspec.load(spec)
    variables = model.init(0)
    kernel = variables["params"]["m"]["dense/kernel"]
    _, aux = model.apply(variables, _x(6, (2, 3)), return_aux=True)
    np.testing.assert_allclose(aux.loss, 0.5 * jnp.sum(kernel**2), rtol=1e-6)
    constrained = model.compiled.constrain(variables["params"])
    assert float(jnp.min(constrained["m"]["dense/kernel"])) >= 0.0


def test_activity_losses_inside_reach_the_outer_model_as_at_top_level() -> None:
    """An activity regularizer inside adds its loss at apply time (not a weight rule): the
    nested model's loss equals the same layer's at top level, on the same weights."""
    dense = {"type": "Dense", "units": 2, "activity_regularizer": {"l1": 0.25}}
    flat = kspec.load({"kspec": 1, "inputs": {"x": [3]}, "layers": [dense]})
    inner_spec = {"inputs": {"x": [3]}, "layers": [dense]}
    nested = kspec.load(
        {
            "kspec": 1,
            "inputs": {"x": [3]},
            "layers": [{"type": "Model", "name": "m", "spec": inner_spec}],
        }
    )
    variables = nested.init(0)
    inner = variables["params"]["m"]
    inner["dense/bias"] = jnp.asarray([0.5, -1.0])
    flat_params = {"dense": {"kernel": inner["dense/kernel"], "bias": inner["dense/bias"]}}
    flat_variables = {**flat.init(0), "params": flat_params}
    x = _x(6, (4, 3))
    _, aux = nested.apply(variables, x, return_aux=True)
    _, flat_aux = flat.apply(flat_variables, x, return_aux=True)
    assert float(flat_aux.loss) > 0
    np.testing.assert_allclose(aux.loss, flat_aux.loss, rtol=1e-6)


def test_gradients_reach_the_weights_inside() -> None:
    model = kspec.load(_outer())
    variables = model.init(0)

    def loss(params: Any) -> jax.Array:
        out = model.apply({**variables, "params": params}, _x(7), _x(8))
        return jnp.sum(out**2)

    grads = jax.grad(loss)(variables["params"])
    assert float(jnp.abs(grads["encoder"]["dense/kernel"]).sum()) > 0


def test_multi_input_multi_output_sub_model() -> None:
    inner = {
        "inputs": {"p": [4], "q": [4]},
        "layers": [
            {"type": "Add", "inputs": ["p", "q"]},
            {"type": "Dense", "name": "left", "units": 2, "inputs": ["add"]},
            {"type": "Dense", "name": "right", "units": 3, "inputs": ["add"]},
        ],
        "outputs": ["left", "right"],
    }
    spec = {"kspec": 1, "inputs": {"a": [4], "b": [4]}, "layers": [
        {"type": "Model", "name": "pair", "spec": inner, "inputs": ["b", "a"]},
        {"type": "Concatenate", "inputs": ["pair:0", "pair:1"]},
    ]}  # fmt: skip
    model = kspec.load(spec)
    assert model.output_shape == (None, 5)
    a, b = _x(9, (2, 4)), _x(10, (2, 4))
    left, right = model.get_layer("pair").predict([b, a])
    np.testing.assert_allclose(model.predict([a, b]), np.concatenate([left, right], 1), rtol=1e-6)


def test_input_shape_mismatch_names_both_shapes() -> None:
    spec = {"kspec": 1, "inputs": {"x": [7]}, "layers": [{"type": "Model", "spec": INNER}]}
    with pytest.raises(kspec.SpecError) as info:
        kspec.load(spec)
    assert str(info.value) == (
        "error: node 'encoder': the sub-model 'encoder' expects input 'x' of shape (None, 6). "
        "Received: shape=(None, 7)"
    )


def test_wrong_number_of_inputs() -> None:
    spec = _outer()
    spec["layers"][0]["inputs"] = ["a", "b"]
    with pytest.raises(kspec.SpecError, match=r"takes 1 input\(s\) \(x\). Received: 2 inputs"):
        kspec.load(spec)


def test_compile_errors_inside_keep_their_location_and_qualified_name() -> None:
    text = """\
kspec: 1
inputs: {x: [6]}
layers:
  - type: Model
    name: enc
    spec:
      inputs: {x: [6]}
      layers:
        - {type: Reshape, target_shape: [4, 2]}
"""
    with pytest.raises(kspec.SpecError) as info:
        kspec.load(text)
    assert str(info.value) == (
        "<string>:9:11: error: node 'enc/reshape': cannot reshape (None, 6) (6 values) to "
        "(4, 2) (8 values)"
    )


def test_a_masked_input_is_refused() -> None:
    spec = {"kspec": 1, "inputs": {"x": [5, 6]}, "layers": [
        {"type": "Masking"},
        {"type": "Model", "spec": {**INNER, "inputs": {"x": [5, 6]}}},
    ]}  # fmt: skip
    with pytest.raises(kspec.SpecError, match="Model cannot honour the mask that node 'masking'"):
        kspec.load(spec)


def test_summary_expands_nested_models() -> None:
    model = kspec.load(_outer())
    lines: list[str] = []
    model.summary(print_fn=lines.append, expand_nested=True)
    text = "\n".join(lines)
    assert "encoder (Model)" in text
    assert "  batch_normalization (BatchNormalization)" in text.replace("\n", " ")
    assert text.count("dense_1 (Dense)") == 1  # the shared node is not expanded twice
    plain: list[str] = []
    model.summary(print_fn=plain.append)
    assert "batch_normalization" not in "\n".join(plain)


def test_save_and_load_weights_round_trip(tmp_path: Path) -> None:
    model = kspec.load(_outer())
    model.init(5)
    model.save_weights(tmp_path / "w")
    other = kspec.load(_outer())
    other.init(6)
    other.load_weights(tmp_path / "w")
    for a, b in zip(model.get_weights(), other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    report = other.load_weights(tmp_path / "w", by_name=True)
    assert report.matched == ["encoder", "dense"] and report.complete


def test_to_yaml_is_a_fixed_point() -> None:
    spec = kspec.validate(_outer())
    text = to_yaml(spec)
    again = kspec.validate(text)
    assert again == spec and to_yaml(again) == text
    assert "kspec: null" not in text


def test_builder_calls_a_model_like_a_layer() -> None:
    from kspec.layers import Concatenate, Dense

    x = kspec.Input((6,))
    encoder = kspec.Model(x, Dense(3)(Dense(5, activation="tanh")(x)), name="encoder")
    a, b = kspec.Input((6,)), kspec.Input((6,))
    out = Dense(1)(Concatenate()([encoder(a), encoder(b)]))
    model = kspec.Model([a, b], out)
    assert [n["name"] for n in model.get_config()["layers"]][:2] == ["encoder", "encoder_shared"]
    assert len(model.get_weights()) == 6
    model.get_layer("encoder").set_weights(encoder.get_weights())
    xa = _x(11)
    np.testing.assert_allclose(model.get_layer("encoder").predict(xa), encoder.predict(xa))
    # a Sequential is callable too: on arrays, with its own weights (Keras)
    seq = kspec.Sequential([Dense(2, input_dim=3)])
    outer = kspec.Model(inp := kspec.Input((3,)), seq(inp))
    assert outer.get_layer(index=0).get_layer("dense").get_weights()[0].shape == (3, 2)
    np.testing.assert_allclose(seq(_x(12, (1, 3))), seq.predict(_x(12, (1, 3))))


def test_builder_refuses_a_model_on_wrong_shapes() -> None:
    x = kspec.Input((6,))
    encoder = kspec.Model(x, kspec.layers.Dense(3)(x))
    with pytest.raises(kspec.SpecError, match=r"expects input 'input' of shape \(None, 6\)"):
        encoder(kspec.Input((4,)))


def test_plot_draws_a_sub_model_as_one_node() -> None:
    from kspec.runtime.plot import to_dot

    dot = to_dot(kspec.load(_outer()).compiled)
    assert '"encoder" [label="encoder\\nModel (shared)' in dot
    assert "batch_normalization" not in dot


def test_clashing_weight_paths_are_refused() -> None:
    nested = {"inputs": {"x": [6]}, "layers": [{"type": "Dense", "name": "b", "units": 2}]}
    inner = {"inputs": {"x": [6]}, "layers": [
        {"type": "Model", "name": "a", "spec": nested},
        {"type": "Dense", "name": "a/b", "units": 2, "inputs": ["x"]},
    ], "outputs": ["a", "a/b"]}  # fmt: skip
    spec = {"kspec": 1, "inputs": {"x": [6]}, "layers": [{"type": "Model", "spec": inner}]}
    with pytest.raises(kspec.SpecError, match="would both be stored as 'a/b/kernel'"):
        kspec.load(spec)


def test_builder_model_layer_from_a_spec() -> None:
    layer = kspec.layers.Model(name="encoder", spec=INNER)
    a = kspec.Input((6,))
    model = kspec.Model(a, layer(a))
    assert model.output_shape == (None, 3)
    assert model.get_layer("encoder").layers[0].name == "dense"
    with pytest.raises(kspec.SpecError, match=r"expects input 'x' of shape \(None, 6\)"):
        layer(kspec.Input((2,)))


def test_fit_trains_inside_but_not_a_frozen_inner_layer() -> None:
    inner = {**INNER, "layers": [*INNER["layers"][:2], {**INNER["layers"][2], "trainable": False}]}
    spec = {
        "kspec": 1,
        "inputs": {"a": [6]},
        "compile": {"optimizer": "adam", "loss": "mse"},
        "layers": [{"type": "Model", "spec": inner}, {"type": "Dense", "units": 1}],
    }
    model = kspec.load(spec)
    variables = model.init(0)
    model.fit(_x(13, (32, 6)), _x(14, (32, 1)), epochs=1, batch_size=8, verbose=0)
    before, after = variables["params"]["encoder"], model.variables["params"]["encoder"]
    assert not np.allclose(after["dense/kernel"], before["dense/kernel"])
    frozen = model.variables["state"]["encoder"]["dense_1/kernel"]
    np.testing.assert_array_equal(frozen, variables["state"]["encoder"]["dense_1/kernel"])
    moving = model.variables["state"]["encoder"]["batch_normalization/moving_mean"]
    assert not np.allclose(moving, 0.0)


def test_a_mask_made_inside_does_not_leave_silently() -> None:
    inner = {"inputs": {"ids": {"shape": [5], "dtype": "int32"}}, "layers": [
        {"type": "Embedding", "input_dim": 10, "output_dim": 4, "mask_zero": True}]}  # fmt: skip
    spec = {"kspec": 1, "inputs": {"ids": {"shape": [5], "dtype": "int32"}},
            "layers": [{"type": "Model", "name": "embed", "spec": inner}]}  # fmt: skip
    with pytest.raises(kspec.SpecError) as info:
        kspec.load(spec)
    assert str(info.value) == (
        "error: node 'embed': the sub-model's output 'embedding' carries the mask node "
        "'embedding' makes, which a sub-model does not pass on; consume it inside (an RNN, "
        "GlobalAveragePooling1D) (input shapes: (None, 5))"
    )


def test_a_model_is_a_layer_of_a_sequential() -> None:
    from kspec.layers import Dense

    base = kspec.Sequential([Dense(4, input_dim=3)], name="base")
    model = kspec.Sequential([base, Dense(1)])
    assert [layer.name for layer in model.layers] == ["base", "dense"]
    assert model.input_shape == (None, 3) and model.output_shape == (None, 1)
    model.get_layer("base").set_weights(base.get_weights())
    x = _x(15, (2, 3))
    np.testing.assert_allclose(model.get_layer("base").predict(x), base.predict(x), rtol=1e-6)
