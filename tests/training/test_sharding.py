"""Data parallelism on 1 and 4 forced CPU devices: the same curve, predictions and
checkpoints. Each run is a subprocess, since JAX fixes the device count when it starts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.training.forced_devices import run

# slow: subprocesses or whole training runs (`make test` only); one worker runs the module,
# so its fixture is built once
pytestmark = pytest.mark.slow

RUN = Path(__file__).with_name("sharded_run.py")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sharding")
    one, four, back = root / "one", root / "four", root / "back"
    run(RUN, 1, one)
    run(RUN, 4, four, other=one)  # 4 devices restore the 1-device checkpoints
    run(RUN, 1, back, other=four)  # and 1 device restores the 4-device ones
    return {"one": one, "four": four, "back": back}


def test_same_curve_and_outputs_on_one_and_four_devices(runs: dict[str, Path]) -> None:
    one, four = (np.load(runs[k] / "result.npz") for k in ("one", "four"))
    assert len(one["loss"]) == 4
    for key in one.files:
        np.testing.assert_allclose(four[key], one[key], rtol=1e-5, atol=1e-6, err_msg=key)


@pytest.mark.parametrize(("restorer", "saver"), [("four", "one"), ("back", "four")])
def test_checkpoints_restore_on_another_device_count(
    runs: dict[str, Path], restorer: str, saver: str
) -> None:
    saved = np.load(runs[saver] / "result.npz")
    restored = np.load(runs[restorer] / "restored.npz")
    assert int(restored["epoch"]) == 3
    assert int(restored["iterations"]) == 4 * 4
    for i in range(4):
        np.testing.assert_array_equal(restored[f"w{i}"], saved[str(i)])
        np.testing.assert_array_equal(restored[f"r{i}"], saved[str(i)])
