"""TimeDistributed and Bidirectional against Keras 3 (weights copied with set_weights), plus
what Keras cannot be compared on directly: weight names, nested regularizers, stateful."""

from __future__ import annotations

from typing import Any

import jax
import keras
import numpy as np
import pytest

import kspec
from kspec.errors import SpecError
from tests.parity.harness import (
    ATOL,
    RTOL,
    assert_parity,
    keras_sequential,
    keras_side,
    randomize_weights,
)
from tests.parity.test_recurrent import padded_batch

L = keras.layers
# (merge_mode, return_sequences, masked, return_state): each merge mode with and without
# return_sequences, masks on and off, states on some rows; lean
GRID = [
    ("concat", 0, 1, 1), ("concat", 1, 1, 0), ("sum", 1, 0, 1), ("mul", 1, 1, 1),
    ("ave", 0, 0, 0), ("ave", 1, 1, 0), (None, 1, 1, 1), (None, 0, 1, 0),
]  # fmt: skip


def _run_keras(layer: Any, inputs: list[np.ndarray], mask: np.ndarray | None) -> list[Any]:
    """The Keras layer's outputs, after a first call builds it and its weights are randomised."""
    with keras_side():
        x, *states = inputs
        layer(x, mask=mask, initial_state=states or None)
        randomize_weights(layer)
        out = layer(x, mask=mask, initial_state=states or None)
        return [np.asarray(o) for o in (out if isinstance(out, list | tuple) else [out])]


def _compare(spec: dict, layer: Any, inputs: list[np.ndarray], masked: bool) -> kspec.Model:
    mask = np.any(inputs[0] != 0.0, axis=-1) if masked else None
    expected = _run_keras(layer, inputs, mask)
    model = kspec.load(spec)
    with keras_side():
        weights = layer.get_weights()
    assert [w.shape for w in model.get_weights()] == [w.shape for w in weights]
    model.set_weights(weights)
    actual = model.apply(model.variables, *inputs)
    actual = actual if isinstance(actual, list) else [actual]
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_allclose(np.asarray(a), e, rtol=RTOL, atol=ATOL)
    return model


def _bi_spec(bi: dict, masked: bool, inputs: dict | None = None) -> dict:
    return {
        "kspec": 1,
        "inputs": inputs or {"x": {"shape": [6, 3]}},
        "layers": [*([{"type": "Masking"}] if masked else []),
                   {"type": "Bidirectional", "name": "bi", **bi}],
    }  # fmt: skip


# Bidirectional ------------------------------------------------------------------------------


@pytest.mark.parametrize("type_name", ["LSTM", "GRU"])
@pytest.mark.parametrize("row", GRID, ids=lambda r: "{}-rs{}-mask{}-st{}".format(*r))
def test_bidirectional_grid(type_name: str, row: tuple[Any, ...]) -> None:
    merge_mode, seqs, masked, state = row
    keras.utils.set_random_seed(0)
    inner = {"units": 4, "return_sequences": bool(seqs), "return_state": bool(state)}
    with keras_side():
        layer = L.Bidirectional(getattr(L, type_name)(**inner), merge_mode=merge_mode)
    bi = {"merge_mode": merge_mode, "layer": {"type": type_name, **inner}}
    _compare(_bi_spec(bi, bool(masked)), layer, [padded_batch()], bool(masked))


def test_bidirectional_backward_layer_and_initial_states() -> None:
    """A given backward layer (its own options), a forward layer reading backwards, and
    initial states split forward / backward, as Keras does."""
    keras.utils.set_random_seed(1)
    forward = {"units": 3, "return_sequences": True, "return_state": True, "go_backwards": True}
    backward = {**forward, "go_backwards": False, "activation": "relu"}
    with keras_side():
        layer = L.Bidirectional(L.LSTM(**forward), backward_layer=L.LSTM(**backward))
    states = [np.random.default_rng(i).standard_normal((4, 3)).astype(np.float32) for i in range(4)]
    names = [f"s{i}" for i in range(4)]
    spec = _bi_spec(
        {"layer": {"type": "LSTM", **forward}, "backward_layer": {"type": "LSTM", **backward},
         "inputs": ["masking", *names]},
        True,
        {"x": {"shape": [6, 3]}, **{n: {"shape": [3]} for n in names}},
    )  # fmt: skip
    spec["layers"][0]["inputs"] = ["x"]
    _compare(spec, layer, [padded_batch(), *states], True)


def test_imdb_style_classifier_matches_keras() -> None:
    """Embedding(mask_zero) -> Bidirectional LSTM -> Dense, as in examples/imdb_lstm.yaml."""
    keras.utils.set_random_seed(2)
    ids = np.random.default_rng(0).integers(1, 50, (4, 7)).astype(np.int32)
    ids[0, 3:], ids[1, 5:] = 0, 0
    spec = {
        "kspec": 1,
        "inputs": {"words": {"shape": [7], "dtype": "int32"}},
        "layers": [
            {"type": "Embedding", "input_dim": 50, "output_dim": 5, "mask_zero": True},
            {"type": "Bidirectional", "layer": {"type": "LSTM", "units": 4}},
            {"type": "Dense", "units": 1, "activation": "sigmoid"},
        ],
    }
    with keras_side():
        model = keras.Sequential(
            [keras.Input((7,), dtype="int32"), L.Embedding(50, 5, mask_zero=True),
             L.Bidirectional(L.LSTM(4)), L.Dense(1, activation="sigmoid")]
        )  # fmt: skip
    assert_parity(spec, model, ids)


def test_bidirectional_weight_names_and_nested_rules() -> None:
    rules = {"kernel_regularizer": {"l2": 0.5}, "recurrent_constraint": "non_neg"}
    spec = _bi_spec({"layer": {"type": "GRU", "units": 2, **rules}}, False)
    model = kspec.load(spec)
    assert model.get_layer("bi").weight_names() == [
        f"{d}_{w}" for d in ("forward", "backward") for w in ("kernel", "recurrent_kernel", "bias")
    ]
    weights = [np.full(w.shape, -1.0, np.float32) for w in model.get_weights()]
    model.set_weights(weights)
    _, aux = model.apply(model.variables, padded_batch(), return_aux=True)
    assert float(aux.loss) == pytest.approx(2 * 0.5 * 3 * 6)  # both kernels (3, 6) of -1
    constrained = model.compiled.constrain(model.variables["params"])["bi"]
    assert float(constrained["backward_recurrent_kernel"].max()) == 0.0
    assert float(constrained["forward_kernel"].min()) == -1.0


def test_bidirectional_stateful_halves_equal_the_whole() -> None:
    def spec(stateful: bool, steps: int) -> dict:
        inner = {"type": "GRU", "units": 3, "stateful": stateful, "return_sequences": True}
        return _bi_spec({"layer": inner}, False, {"x": {"shape": [steps, 3], "batch_size": 4}})

    x = padded_batch(steps=8)
    whole, half = kspec.load(spec(False, 8)), kspec.load(spec(True, 4))
    half.set_weights(whole.get_weights())
    expected = np.asarray(whole.apply(whole.variables, x))
    first, aux = half.apply(half.variables, x[:, :4], return_aux=True)
    assert sorted(aux.state["bi"]) == ["backward_h", "forward_h"]
    second, _ = half.apply({**half.variables, "state": aux.state}, x[:, 4:], return_aux=True)
    # the forward half continues exactly; the backward one reads each half on its own
    forward = np.concatenate([first, second], axis=1)[..., :3]
    np.testing.assert_allclose(forward, expected[..., :3], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(
    ("bi", "message"),
    [
        ({"layer": {"type": "Dense", "units": 2}}, "Bidirectional wraps a recurrent layer"),
        (
            {"layer": {"type": "LSTM", "units": 2},
             "backward_layer": {"type": "LSTM", "units": 2}},
            "need different `go_backwards`",
        ),
        (
            {"layer": {"type": "LSTM", "units": 2},
             "backward_layer": {"type": "GRU", "units": 2, "go_backwards": True,
                                "return_sequences": True}},
            "need the same `return_sequences`",
        ),
    ],
)  # fmt: skip
def test_bidirectional_rejects(bi: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        kspec.load(_bi_spec(bi, False))


# TimeDistributed ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inner", "keras_inner", "shape"),
    [
        ({"type": "Dense", "units": 3, "activation": "tanh"}, lambda: L.Dense(3, "tanh"), (5, 4)),
        (
            {"type": "Conv2D", "filters": 2, "kernel_size": 3, "padding": "same"},
            lambda: L.Conv2D(2, 3, padding="same"),
            (3, 6, 6, 2),
        ),
    ],
    ids=["Dense", "Conv2D"],
)
def test_time_distributed(inner: dict, keras_inner: Any, shape: tuple[int, ...]) -> None:
    keras.utils.set_random_seed(3)
    spec = {"kspec": 1, "inputs": {"x": {"shape": list(shape)}},
            "layers": [{"type": "TimeDistributed", "name": "td", "layer": inner}]}  # fmt: skip
    with keras_side():
        model = keras_sequential([L.TimeDistributed(keras_inner())], shape)
        bias = model.layers[0].layer.bias  # non-zero, so the bias wiring is checked
        bias.assign(np.random.default_rng(1).standard_normal(bias.shape).astype("float32"))
    x = np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)
    ours = assert_parity(spec, model, x)
    assert ours.get_layer("td").weight_names() == ["kernel", "bias"]  # shared across steps


def test_time_distributed_batch_norm_updates_its_moving_statistics() -> None:
    """The wrapped layer's new state becomes the wrapper's: one BatchNormalization over every
    timestep, so its batch statistics fold time into the batch (NumPy of Keras' update,
    `moving = momentum * moving + (1 - momentum) * batch`, biased variance)."""
    spec = {"kspec": 1, "inputs": {"x": {"shape": [4, 3]}},
            "layers": [{"type": "TimeDistributed", "name": "td",
                        "layer": {"type": "BatchNormalization", "momentum": 0.9}}]}  # fmt: skip
    model = kspec.load(spec)
    x = np.random.default_rng(5).standard_normal((2, 4, 3)).astype(np.float32) + 1.5
    _, aux = model.apply(model.init(0), x, training=True, return_aux=True)
    steps = x.reshape(-1, 3)
    np.testing.assert_allclose(aux.state["td"]["moving_mean"], 0.1 * steps.mean(0), rtol=1e-5)
    expected_var = 0.9 + 0.1 * steps.var(0)
    np.testing.assert_allclose(aux.state["td"]["moving_variance"], expected_var, rtol=1e-5)


def test_time_distributed_dropout_draws_from_the_calls_rng() -> None:
    """The wrapped layer gets the wrapper's rng: in training a wrapped Dropout zeroes and
    rescales (one draw over every timestep), the same key gives the same draw."""
    dropout = {"type": "TimeDistributed", "layer": {"type": "Dropout", "rate": 0.5}}
    spec = {"kspec": 1, "inputs": {"x": {"shape": [6, 50]}}, "layers": [dropout]}
    model = kspec.load(spec)
    variables, x = model.init(0), np.ones((4, 6, 50), np.float32)
    out = np.asarray(model.apply(variables, x, training=True, rng=jax.random.PRNGKey(1)))
    assert set(np.unique(out)) == {0.0, 2.0}
    assert 0.4 < (out == 0).mean() < 0.6
    again = model.apply(variables, x, training=True, rng=jax.random.PRNGKey(1))
    np.testing.assert_array_equal(again, out)


def test_bidirectional_dropout_draws_one_mask_per_direction() -> None:
    """In training each direction draws its own dropout mask from the call's rng: with the
    same weights both ways on a constant sequence, the halves differ only by their masks."""
    inner = {"type": "SimpleRNN", "units": 8, "dropout": 0.5, "activation": "linear",
             "use_bias": False}  # fmt: skip
    spec = {"kspec": 1, "inputs": {"x": {"shape": [1, 8]}},
            "layers": [{"type": "Bidirectional", "layer": inner, "merge_mode": None}]}  # fmt: skip
    model = kspec.load(spec)
    model.init(0)
    model.set_weights([np.eye(8), np.zeros((8, 8))] * 2)
    x = np.ones((16, 1, 8), np.float32)
    forward, backward = model.apply(model.variables, x, training=True, rng=jax.random.PRNGKey(0))
    assert set(np.unique(forward)) == set(np.unique(backward)) == {0.0, 2.0}
    assert not np.array_equal(forward, backward)
    again = model.apply(model.variables, x, training=True, rng=jax.random.PRNGKey(0))
    np.testing.assert_array_equal(again[0], forward)


def test_bidirectional_sequences_pass_the_mask_on() -> None:
    """With `return_sequences` the output keeps the input's mask (Keras' `compute_mask`): a
    masked average after it skips the padded steps."""
    layers = [
        {"type": "Masking"},
        {"type": "Bidirectional", "name": "bi",
         "layer": {"type": "GRU", "units": 3, "return_sequences": True}},
        {"type": "GlobalAveragePooling1D"},
    ]  # fmt: skip
    spec = {"kspec": 1, "inputs": {"x": {"shape": [6, 3]}}, "layers": layers}
    model = kspec.load(spec)
    per_step = kspec.load({**spec, "layers": layers[:2]})
    x = padded_batch()
    steps = np.asarray(per_step.apply(model.variables, x))
    kept = np.any(x != 0.0, axis=-1)[..., None]
    expected = (steps * kept).sum(1) / kept.sum(1)
    np.testing.assert_allclose(model.apply(model.variables, x), expected, rtol=1e-5, atol=1e-6)


def test_time_distributed_over_a_sub_model() -> None:
    """Keras lets TimeDistributed wrap any layer, a Model included: the sub-model runs on
    every timestep with one set of weights (random biases, so the bias path counts)."""
    inner_spec = {
        "inputs": {"x": [6]},
        "layers": [
            {"type": "Dense", "units": 4, "activation": "tanh"},
            {"type": "Dense", "units": 2},
        ],
    }
    wrapped = {"type": "TimeDistributed", "layer": {"type": "Model", "spec": inner_spec}}
    spec = {"kspec": 1, "inputs": {"x": [3, 6]}, "layers": [wrapped]}
    with keras_side():
        inner = keras_sequential([L.Dense(4, activation="tanh"), L.Dense(2)], (6,))
        model = keras_sequential([L.TimeDistributed(inner)], (3, 6))
        rng = np.random.default_rng(2)
        model.set_weights([rng.standard_normal(w.shape) for w in model.get_weights()])
    x = np.random.default_rng(0).standard_normal((2, 3, 6)).astype(np.float32)
    assert_parity(spec, model, x)


def test_time_distributed_passes_the_mask_on_and_reaches_nested_rules() -> None:
    keras.utils.set_random_seed(4)
    spec = {
        "kspec": 1,
        "inputs": {"x": {"shape": [6, 3]}},
        "layers": [
            {"type": "Masking"},
            {"type": "TimeDistributed", "name": "td",
             "layer": {"type": "Dense", "units": 4, "kernel_regularizer": {"l1": 0.25}}},
            {"type": "LSTM", "units": 2},
        ],
    }  # fmt: skip
    with keras_side():
        model = keras_sequential([L.Masking(), L.TimeDistributed(L.Dense(4)), L.LSTM(2)], (6, 3))
    ours = assert_parity(spec, model, padded_batch())
    params = ours.variables["params"]
    expected = 0.25 * float(np.abs(np.asarray(params["td"]["kernel"])).sum())
    assert float(ours.compiled.weight_penalty(params)) == pytest.approx(expected, rel=1e-6)


def _randomised(model: keras.Model, seed: int = 0) -> keras.Model:
    """Every weight random (biases included), so no path is only compared at zero."""
    rng = np.random.default_rng(seed)
    with keras_side():
        model.set_weights(
            [0.3 * rng.standard_normal(w.shape).astype(np.float32) for w in model.get_weights()]
        )
    return model


CHANNELS_FIRST = [
    pytest.param(
        {"type": "TimeDistributed", "layer": {"type": "Conv2D", "filters": 4, "kernel_size": 3}},
        lambda: L.TimeDistributed(L.Conv2D(4, 3, data_format="channels_first")),
        (3, 2, 6, 7),
        id="TimeDistributed(Conv2D)",
    ),
    pytest.param(
        {"type": "Bidirectional", "layer": {"type": "ConvLSTM2D", "filters": 3, "kernel_size": 3}},
        lambda: L.Bidirectional(L.ConvLSTM2D(3, 3, data_format="channels_first")),
        (3, 2, 5, 6),
        id="Bidirectional(ConvLSTM2D)",
    ),
]


@pytest.mark.parametrize(("layer", "keras_layer", "shape"), CHANNELS_FIRST)
def test_model_data_format_reaches_wrapped_layers(
    layer: dict, keras_layer: Any, shape: tuple
) -> None:
    """`data_format: channels_first` on the model is the default of the layer inside a wrapper
    too (the canonical spec fills it into nested layers), as Keras' layer-level setting."""
    spec = {"kspec": 1, "data_format": "channels_first", "inputs": {"x": list(shape)}}
    spec["layers"] = [layer]
    assert kspec.validate(spec).layers[0].layer.data_format == "channels_first"  # type: ignore[attr-defined]
    with keras_side():
        reference = _randomised(keras_sequential([keras_layer()], shape))
    x = np.random.default_rng(1).standard_normal((2, *shape)).astype(np.float32)
    assert_parity(spec, reference, x)
