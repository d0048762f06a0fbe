"""A declared sharding layout (a Dense layer's weights split over a `model` mesh axis) on 4
forced CPU devices gives the replicated run's curve, and its checkpoints restore onto 1 device.
Each run is a subprocess, since JAX fixes the device count when it starts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import kspec
from tests.training.forced_devices import run
from tests.training.sharded_run import MLP

# slow: subprocesses or whole training runs (`make test` only); one worker runs the module,
# so its fixture is built once
pytestmark = pytest.mark.slow

RUN = Path(__file__).with_name("layout_run.py")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("layout")
    sharded, single = root / "sharded", root / "single"
    run(RUN, 4, sharded)
    run(RUN, 1, single, other=sharded)
    return {"sharded": sharded, "single": single}


def test_sharded_layer_gives_the_replicated_curve(runs: dict[str, Path]) -> None:
    sharded, single = (np.load(runs[k] / "result.npz") for k in ("sharded", "single"))
    assert sharded["loss"][0] != sharded["loss"][-1]
    for key in single.files:
        np.testing.assert_allclose(sharded[key], single[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_sharded_checkpoints_restore_onto_one_device(runs: dict[str, Path]) -> None:
    saved = np.load(runs["sharded"] / "result.npz")
    restored = np.load(runs["single"] / "restored.npz")
    assert int(restored["epoch"]) == 3
    for i in range(4):
        np.testing.assert_array_equal(restored[f"w{i}"], saved[str(i)])


def test_layout_mistakes_are_reported() -> None:
    model = kspec.load(MLP)
    model.init(0)
    with pytest.raises(ValueError, match=r"sharding: \['dense/kernal'\] match no weight"):
        model.compile("sgd", "mse", sharding={"model_axis": 1, "params": {"dense/kernal": [None]}})
    with pytest.raises(ValueError, match="model_axis must divide the 1 device"):
        model.compile("sgd", "mse", sharding={"model_axis": 3, "params": {}})
    model.compile("sgd", "mse", sharding={"model_axis": 1, "params": {"dense/kernel": ["model"]}})
    with pytest.raises(ValueError, match=r"gives 1 axes but dense/kernel has shape \(6, 16\)"):
        model.train_on_batch(np.zeros((4, 6), "float32"), np.zeros((4, 3), "float32"))


def test_layout_declared_in_the_spec() -> None:
    """`compile: {sharding: ...}` on one device: a mesh of 1 x 1, the same numbers as without."""
    x = np.linspace(-1, 1, 24, dtype="float32").reshape(4, 6)
    y = np.eye(3, dtype="float32")[[0, 1, 2, 0]]
    losses = []
    for sharding in (None, {"model_axis": 1, "params": {"dense*/kernel": [None, "model"]}}):
        recipe = {"optimizer": "adam", "loss": "categorical_crossentropy", "sharding": sharding}
        model = kspec.load({**MLP, "compile": {k: v for k, v in recipe.items() if v}})
        model.init(0)
        losses.append(model.fit(x, y, batch_size=2, epochs=2, verbose=0).history["loss"])
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-6)
