"""The runtime API: validate/load from every source, apply under jit/grad/vmap, predict,
weights and layers, Lambda functions, summary."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kspec

MLP = Path(__file__).resolve().parents[2] / "examples" / "mlp.yaml"
SMALL = {
    "kspec": 1,
    "name": "small",
    "inputs": {"x": [6]},
    "layers": [
        {"type": "Dense", "units": 5, "activation": "relu"},
        {"type": "Dropout", "rate": 0.5},
        {"type": "Dense", "units": 3, "activation": "softmax", "name": "head"},
    ],
}
TWO_INPUTS = {
    "kspec": 1,
    "inputs": {"a": [4], "b": [4]},
    "layers": [
        {"type": "Dense", "name": "enc", "units": 3, "inputs": ["a"]},
        {"shares": "enc", "name": "enc_b", "inputs": ["b"]},
        {"type": "Lambda", "name": "diff", "expression": "x0 - x1", "inputs": ["enc", "enc_b"]},
    ],
}


@pytest.fixture(scope="module")
def small() -> kspec.Model:
    model = kspec.load(SMALL)
    model.init(0)
    return model


def _x(n: int, features: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, features)).astype(np.float32)


# Sources -----------------------------------------------------------------------------------


def test_validate_and_load_from_every_source() -> None:
    text = MLP.read_text()
    from_path = kspec.validate(MLP)
    assert kspec.validate(str(MLP)) == from_path
    assert kspec.validate(text) == from_path
    import yaml

    assert kspec.validate(yaml.safe_load(text)) == from_path
    assert kspec.validate(from_path) == from_path
    for source in (MLP, text, yaml.safe_load(text)):
        model = kspec.load(source)
        assert model.name == "mnist_mlp"
        assert model.output_shape == (None, 10)
        assert model.layer_names == ["dense", "dropout", "dense_1", "dropout_1", "dense_2"]


def test_validate_fills_canonical_form() -> None:
    spec = kspec.validate(SMALL)
    assert [layer.name for layer in spec.layers] == ["dense", "dropout", "head"]
    assert spec.outputs == ["head"]


def test_load_does_not_modify_the_callers_dict() -> None:
    import copy

    before = copy.deepcopy(SMALL)
    kspec.load(SMALL)
    assert before == SMALL


# apply under transformations ---------------------------------------------------------------


def test_apply_under_jit_matches_eager(small: kspec.Model) -> None:
    x = _x(4)
    eager = small.apply(small.variables, x)
    jitted = jax.jit(small.apply)(small.variables, x)
    assert eager.shape == (4, 3)
    np.testing.assert_allclose(jitted, eager, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.sum(eager, axis=-1), 1.0, rtol=1e-5)


def test_grad_has_params_structure(small: kspec.Model) -> None:
    x, y = _x(8), jax.nn.one_hot(np.arange(8) % 3, 3)

    def loss(params: dict, rng: jax.Array) -> jax.Array:
        variables = {**small.variables, "params": params}
        probs = small.apply(variables, x, training=True, rng=rng)
        return -jnp.mean(jnp.sum(y * jnp.log(probs + 1e-7), axis=-1))

    params = small.variables["params"]
    grads = jax.jit(jax.grad(loss))(params, jax.random.PRNGKey(1))
    assert jax.tree.structure(grads) == jax.tree.structure(params)
    for g, p in zip(jax.tree.leaves(grads), jax.tree.leaves(params), strict=True):
        assert g.shape == p.shape and g.dtype == p.dtype
        assert bool(jnp.all(jnp.isfinite(g)))
    assert any(float(jnp.abs(g).sum()) > 0 for g in jax.tree.leaves(grads))


def test_training_needs_rng_and_dropout_is_random(small: kspec.Model) -> None:
    x = _x(4)
    a = small.apply(small.variables, x, training=True, rng=jax.random.PRNGKey(0))
    b = small.apply(small.variables, x, training=True, rng=jax.random.PRNGKey(1))
    assert not np.allclose(a, b)
    with pytest.raises(ValueError, match="rng"):
        small.apply(small.variables, x, training=True)


def test_vmap_over_extra_leading_axis(small: kspec.Model) -> None:
    xs = _x(5 * 4).reshape(5, 4, 6)
    mapped = jax.vmap(small.apply, in_axes=(None, 0))(small.variables, xs)
    assert mapped.shape == (5, 4, 3)
    for i in range(5):
        np.testing.assert_allclose(mapped[i], small.apply(small.variables, xs[i]), atol=1e-6)


def test_return_aux(small: kspec.Model) -> None:
    out, aux = small.apply(small.variables, _x(2), return_aux=True)
    assert out.shape == (2, 3)
    assert aux.loss.shape == ()


def test_several_inputs_by_position_and_name() -> None:
    model = kspec.load(TWO_INPUTS)
    a, b = _x(3, 4, 1), _x(3, 4, 2)
    by_position = model.apply(model.variables, a, b)
    by_name = model.apply(model.variables, {"a": a, "b": b})
    as_list = model.apply(model.variables, [a, b])
    np.testing.assert_allclose(by_position, by_name)
    np.testing.assert_allclose(by_position, as_list)
    np.testing.assert_allclose(model.apply(model.variables, a, a), 0.0, atol=1e-6)
    with pytest.raises(ValueError, match="takes 2 input"):
        model.apply(model.variables, a)
    with pytest.raises(ValueError, match="missing model input"):
        model.apply(model.variables, {"a": a})


# predict -----------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 7, 32, 33, 100])
def test_predict_batches_match_one_big_batch(small: kspec.Model, n: int) -> None:
    x = _x(n)
    expected = small.apply(small.variables, x)
    for batch_size in (1, 8, 32, 1000):
        got = small.predict(x, batch_size=batch_size)
        assert isinstance(got, np.ndarray) and got.shape == (n, 3)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_predict_compiles_once_per_batch_size() -> None:
    model = kspec.load(SMALL)
    traces = 0
    apply = model.compiled.apply

    def counting(*args, **kwargs):  # counts traces: jit calls Python only when it traces
        nonlocal traces
        traces += 1
        return apply(*args, **kwargs)

    object.__setattr__(model.compiled, "apply", counting)
    model.predict(_x(100), batch_size=16)  # 6 full batches + a partial one, padded
    assert traces == 1
    assert model._predict_step._cache_size() == 1
    model.predict(_x(50, seed=3), batch_size=16)
    assert traces == 1


# weights and layers ------------------------------------------------------------------------


def test_get_set_weights_round_trip() -> None:
    model = kspec.load(SMALL)
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(6, 5), (5,), (5, 3), (3,)]
    new = [np.full_like(w, i) for i, w in enumerate(weights)]
    model.set_weights(new)
    for got, want in zip(model.get_weights(), new, strict=True):
        np.testing.assert_array_equal(got, want)
    assert model.count_params() == 6 * 5 + 5 + 5 * 3 + 3


def test_set_weights_errors() -> None:
    model = kspec.load(SMALL)
    weights = model.get_weights()
    with pytest.raises(ValueError) as info:
        model.set_weights(weights[:3])
    assert str(info.value) == "set_weights expects 4 arrays (in Keras order). Received: 3"
    bad = [*weights[:2], np.zeros((3, 5)), weights[3]]
    with pytest.raises(ValueError) as info:
        model.set_weights(bad)
    assert str(info.value) == "layer 'head' weight 'kernel' has shape (5, 3). Received: (3, 5)"
    np.testing.assert_array_equal(model.get_weights()[2], weights[2])  # nothing half-applied


def test_get_layer() -> None:
    model = kspec.load(SMALL)
    assert model.get_layer("head").name == "head"
    assert model.get_layer(index=0).name == "dense"
    assert model.get_layer(index=-1).name == "head"
    head = model.get_layer("head")
    assert head.weight_names() == ["kernel", "bias"]
    assert head.output_shape == (None, 3)
    assert head.input_shape == (None, 5)
    assert model.get_layer("dropout").get_weights() == []
    with pytest.raises(ValueError, match="no layer named 'nope'; layers: dense, dropout, head"):
        model.get_layer("nope")
    with pytest.raises(ValueError, match="index 3 is out of range: the model has 3 layers"):
        model.get_layer(index=3)
    with pytest.raises(ValueError, match="exactly one"):
        model.get_layer()


def test_layer_set_weights() -> None:
    model = kspec.load(SMALL)
    head = model.get_layer("head")
    kernel, bias = np.ones((5, 3), np.float32), np.arange(3, dtype=np.float32)
    head.set_weights([kernel, bias])
    np.testing.assert_array_equal(head.get_weights()[0], kernel)
    np.testing.assert_array_equal(model.variables["params"]["head"]["bias"], bias)
    with pytest.raises(ValueError) as info:
        head.set_weights([kernel])
    assert str(info.value) == "layer 'head' has 2 weights (kernel, bias). Received: 1"
    with pytest.raises(ValueError) as info:
        head.set_weights([kernel, np.zeros(4)])
    assert str(info.value) == "layer 'head' weight 'bias' has shape (3,). Received: (4,)"


def test_shared_layer_weights_are_one_layer() -> None:
    model = kspec.load(TWO_INPUTS)
    assert model.layer_names == ["enc", "diff"]
    assert len(model.get_weights()) == 2


# Lambda with registered functions ----------------------------------------------------------

LAMBDA = {
    "kspec": 1,
    "inputs": {"x": [3]},
    "layers": [{"type": "Lambda", "function": "double"}, {"type": "Dense", "units": 2}],
}


def test_lambda_with_registered_function() -> None:
    model = kspec.load(LAMBDA, functions={"double": lambda x: 2 * x})
    x = _x(4, 3)
    model.get_layer("dense").set_weights([np.eye(3, 2, dtype=np.float32), np.zeros(2)])
    np.testing.assert_allclose(model.apply(model.variables, x), 2 * x[:, :2], rtol=1e-6)
    np.testing.assert_allclose(jax.jit(model.apply)(model.variables, x), 2 * x[:, :2], rtol=1e-6)


def test_lambda_unregistered_function_is_a_spec_error() -> None:
    with pytest.raises(kspec.SpecError) as info:
        kspec.load(LAMBDA)
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.node == "lambda"
    assert "Lambda function 'double' is not registered (registered: none)" in diagnostic.message
    assert "kspec.load(spec, functions={'double': fn})" in diagnostic.message
    with pytest.raises(kspec.SpecError, match="registered: other"):
        kspec.load(LAMBDA, functions={"other": abs})


# summary -----------------------------------------------------------------------------------


def test_summary_print_fn() -> None:
    model = kspec.load(MLP)
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    for part in ('Model: "mnist_mlp"', "dense (Dense)", "dense_1 (Dense)", "dropout (Dropout)",
                 "(None, 512)", "(None, 10)", "401,920", "262,656", "5,130",
                 "Total params: 669,706", "Trainable params: 669,706",
                 "Non-trainable params: 0"):  # fmt: skip
        assert part in text, part


def test_summary_functional_shows_connections() -> None:
    model = kspec.load(TWO_INPUTS)
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Connected to" in text
    assert "enc_b" in text and "enc, enc_b" in text
    assert "Total params: 15" in text
