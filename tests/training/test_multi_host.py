"""Multi-host data parallelism, run for real: 2 processes joined by `jax.distributed` on this
machine (gloo CPU collectives), 2 forced CPU devices each, give the 1-process 1-device curve,
evaluation and predictions, and checkpoints cross between the two in both directions.

Each process feeds only its own rows (its half of every global batch), as `sharding.py` says.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.training.forced_devices import run, run_hosts

# slow: subprocesses or whole training runs (`make test` only); one worker runs the module,
# so its fixture is built once
pytestmark = pytest.mark.slow

RUN = Path(__file__).with_name("multi_host_run.py")
HOSTS = 2


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("multi_host")
    one, hosts, back = root / "one", root / "hosts", root / "back"
    run(RUN, 1, one)
    run_hosts(RUN, HOSTS, 2, hosts, other=one)  # 2 hosts restore the 1-process checkpoints
    run(RUN, 1, back, other=hosts)  # and 1 process restores the ones the 2 hosts wrote
    return {"one": one, "hosts": hosts, "back": back}


def test_two_hosts_give_the_one_device_results(runs: dict[str, Path]) -> None:
    one = np.load(runs["one"] / "result-0.npz")
    assert len(one["loss"]) == 4 and one["loss"][0] != one["loss"][-1]
    for process in range(HOSTS):
        host = np.load(runs["hosts"] / f"result-{process}.npz")
        rows = host["rows"]
        assert len(rows) == len(one["rows"]) // HOSTS
        for key in ("loss", "val_loss", "evaluate", "0", "1", "2", "3"):  # global values
            np.testing.assert_allclose(host[key], one[key], rtol=1e-5, atol=1e-6, err_msg=key)
        for key in ("predict", "predict_padded"):  # this process's rows
            np.testing.assert_allclose(host[key], one[key][rows], rtol=1e-5, atol=1e-6)
        on_batch = one["predict"][rows[: len(host["on_batch"])]]
        np.testing.assert_allclose(host["on_batch"], on_batch, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("restorer", "saver", "processes"), [("hosts", "one", HOSTS), ("back", "hosts", 1)]
)
def test_checkpoints_restore_between_one_and_two_hosts(
    runs: dict[str, Path], restorer: str, saver: str, processes: int
) -> None:
    saved = np.load(runs[saver] / "result-0.npz")
    for process in range(processes):
        restored = np.load(runs[restorer] / f"restored-{process}.npz")
        assert int(restored["epoch"]) == 3
        assert int(restored["iterations"]) == 4 * 3
        for i in range(4):
            np.testing.assert_array_equal(restored[f"w{i}"], saved[str(i)])
            np.testing.assert_array_equal(restored[f"r{i}"], saved[str(i)])
